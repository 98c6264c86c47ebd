"""What the notebooks of a run read and wrote (the stage log of `segkit.store`, one file per notebook
when a run has SEGKIT_STAGE_LOG_DIR set), and the pairs of notebooks that could run at once on it."""

import json
from pathlib import Path

from segkit.report.schedule import ancestors


def stage_conflicts(logs: dict[str, list[dict]], notebooks, table) -> list[str]:
    """Each pair of notebooks that touch one stage file or run.json entry, at least one of them
    writing it, where the earlier is not among the later one's needs (so they could run at once)."""
    reads = {n: {e["name"] for e in logs.get(n, []) if e["action"] == "read"} for n in notebooks}
    writes = {n: {e["name"] for e in logs.get(n, []) if e["action"] == "write"} for n in notebooks}
    every_key = {name for n in notebooks for name in writes[n] if name.startswith("run.json:")}
    for n in notebooks:  # iterating over run.json reads every entry, those written later included
        if "run.json:*" in reads[n]:
            reads[n] |= every_key
    before = ancestors(notebooks, table)
    found = []
    for i, later in enumerate(notebooks):
        for earlier in notebooks[:i]:
            shared = (writes[earlier] & (reads[later] | writes[later])) | (reads[earlier] & writes[later])
            if shared and earlier not in before[later]:
                found.append(f"{later} and {earlier} both use {', '.join(sorted(shared))}")
    return found


def stage_logs(folder: Path) -> dict[str, list[dict]]:
    return {path.stem: [json.loads(line) for line in path.read_text().splitlines()]
            for path in folder.glob("*.jsonl")}
