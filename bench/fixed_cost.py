"""The fixed cost of a report, an older segkit and this one side by side (issue 15): what a run pays
whatever its size.

    python bench/fixed_cost.py imports [--old REF] [--repeat 3] [--notebooks 01_cleaning,02_rfm]
    python bench/fixed_cost.py pages RUN_FOLDER [--old REF] [--repeat 3] [--no-pdf]

`imports`: for each notebook, a fresh Python kernel (jupyter_client, as the report starts them) runs
the notebook's parameters cell (params/demo.yaml) and then its import cell: first the cell's import
statements alone (the lines the runner's warm imports run, segkit.report.runner._import_lines,
without their `del`s), then the whole cell (`segkit.load_params`, `plots.use_language`); measured: the
wall seconds of those requests, the kernel's CPU seconds for them (time.process_time inside the
kernel), the kernel's resident memory (psutil) idle, after the imports and after the cell, and the
heavy modules the cell loaded (seaborn, scipy.stats, sklearn, matplotlib.pyplot, ibis, duckdb, ...). Then each name of `segkit.__all__` is resolved in a fresh
process of each tree, and the script exits 1 when a name resolves to something else (compared by
module and qualified name).

`pages`: in fresh processes, the HTML pages (`export_html` of each executed notebook of RUN_FOLDER,
copied to a temporary folder) and the PDF (`write_pdf`) are written by each tree; wall and CPU
seconds, and peak resident memory. The HTML pages must be byte for byte the same as the older
segkit's (exit 1 otherwise); of the PDF, the page count and the text of each page (WeasyPrint's
layout) must be the same. The script says whether WeasyPrint found HarfBuzz's subsetter
(libharfbuzz-subset): without it, WeasyPrint subsets fonts with fontTools, which takes 10-15 s for
each CJK font the PDF uses (Noto Sans CJK: 65,535 glyphs) where HarfBuzz takes 0.1 s.

The older segkit is the package as git ref REF (default: a36453c, main when this was written) has it,
extracted (`git archive`) into a temporary folder and put first on PYTHONPATH. Old and new alternate
(old first in odd rounds, new first in even ones); medians, ratios and the load average are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("seaborn", "scipy.stats", "sklearn", "matplotlib.pyplot", "ibis", "duckdb", "scipy.optimize", "babel")
NOTEBOOKS = ("01_cleaning", "02_rfm", "03_customer_value", "04_clustering", "05_evaluation", "06_migration",
             "07_cross_sell", "08_case_study")


def extract(ref: str, into: Path) -> Path:
    """segkit/ as git ref `ref` has it, under `into` (a folder to put on PYTHONPATH)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "segkit"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def worker(tree: Path, *arguments: str) -> dict:
    """This script's `--worker` run in a fresh process with `tree` first on PYTHONPATH; its JSON answer."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, __file__, "--worker", *arguments], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"worker {arguments} with {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- in the worker process -------------------------------------------------------------------------------

def import_cell(notebook: str) -> dict:
    """A fresh kernel runs `notebook`'s parameters cell (the bundled demo params) and then its first
    cell after it, the import cell (imports, `segkit.load_params`, `plots.use_language`), timing its
    import statements alone first, then the rest of the cell; times and memory."""
    import psutil
    from jupyter_client.manager import start_new_kernel

    from segkit.report.runner import _import_lines

    source = REPO / "notebooks" / f"{notebook}.ipynb"
    code = [cell for cell in json.loads(source.read_text(encoding="utf-8"))["cells"] if cell["cell_type"] == "code"]
    parameters, cell = ("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in code[:2])
    lines = [line for line in _import_lines(source) if not line.startswith("del ")]
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(REPO / "notebooks"))
    try:
        process = psutil.Process(manager.provisioner.process.pid)

        def run(code: str) -> str:
            reply = client.execute_interactive(code, timeout=300, store_history=False, output_hook=lambda _: None,
                                               user_expressions={"out": "_fixed_cost_out"})
            content = reply["content"]
            if content["status"] != "ok":
                raise RuntimeError(f"{notebook}: {content.get('ename')}: {content.get('evalue')}")
            return content["user_expressions"]["out"]["data"]["text/plain"]

        run(parameters + "\nimport time as _t, sys as _s; _fixed_cost_out = 0")
        before = process.memory_info().rss
        wall = time.perf_counter()
        imports_cpu = float(run("_c = _t.process_time()\n" + "\n".join(lines) + "\n_fixed_cost_out = _t.process_time() - _c"))
        imports_wall = time.perf_counter() - wall
        imports_rss = process.memory_info().rss
        cpu = imports_cpu + float(run("_c = _t.process_time()\n" + cell + "\n_fixed_cost_out = _t.process_time() - _c"))
        wall = time.perf_counter() - wall
        after = process.memory_info().rss
        loaded = json.loads(run(f"import json as _j; _fixed_cost_out = _j.dumps([m for m in {HEAVY!r} "
                                "if m in _s.modules])").strip("'"))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {"imports_wall": imports_wall, "imports_cpu": imports_cpu, "wall": wall, "cpu": cpu,
            "rss_before_mb": before / 2**20, "rss_imports_mb": imports_rss / 2**20, "rss_after_mb": after / 2**20,
            "heavy": loaded}


def public_names() -> dict:
    """Where each name of segkit.__all__ comes from, and the names dir(segkit) lists."""
    import segkit

    where = {}
    for name in segkit.__all__:
        value = getattr(segkit, name)
        where[name] = f"{getattr(value, '__module__', None)}.{getattr(value, '__qualname__', type(value).__name__)}"
    return {"names": where, "dir": sorted(set(dir(segkit)) & set(segkit.__all__))}


def pages(folder: str, kind: str) -> dict:
    """Write the HTML pages (kind "html") or the PDF (kind "pdf") of a copy of the run folder `folder`."""
    import resource

    from segkit.report.pages import NOTEBOOKS as ALL, export_html, write_pdf

    folder = Path(folder)
    lang = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["params"]["lang"]
    notebooks = tuple(name for name in ALL if (folder / "executed" / f"{name}.ipynb").exists())
    result = {}
    wall, cpu = time.perf_counter(), time.process_time()
    if kind == "html":
        for name in notebooks:
            export_html(folder / "executed" / f"{name}.ipynb", folder / f"{name}.html", lang, notebooks)
    else:
        write_pdf(folder, folder / "report.pdf", notebooks)
    result["wall"], result["cpu"] = time.perf_counter() - wall, time.process_time() - cpu
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if kind == "pdf":
        result["hb_subset"] = harfbuzz_subset_found()
    return result


def harfbuzz_subset_found() -> bool:
    from weasyprint.text import ffi

    return getattr(ffi, "harfbuzz_subset", None) is not None


def pdf_text(folder: str) -> dict:
    """The PDF's page count and each page's text, as WeasyPrint lays the run folder out."""
    import weasyprint

    captured = {}

    def keep(self, *_, **__):
        captured["document"] = self

    # this process only: the document is laid out here (part by part, segkit.report.pdf_build), not written
    weasyprint.Document.write_pdf = keep
    from segkit.report.pages import NOTEBOOKS as ALL, write_pdf

    folder = Path(folder)
    notebooks = tuple(name for name in ALL if (folder / "executed" / f"{name}.ipynb").exists())
    write_pdf(folder, folder / "unused.pdf", notebooks)
    document = captured["document"]

    def text(box) -> str:
        own = getattr(box, "text", "") or ""
        return own + "".join(text(child) for child in getattr(box, "children", ()))

    return {"pages": len(document.pages), "text": [text(page._page_box) for page in document.pages]}


# --- in the main process ---------------------------------------------------------------------------------

def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def alternate(trees: dict, rounds: int, arguments) -> dict:
    """Each tree's worker answers, old and new alternating; `arguments` gives the worker's arguments."""
    found = {label: [] for label in trees}
    for round_ in range(rounds):
        order = list(trees) if round_ % 2 == 0 else list(trees)[::-1]
        for label in order:
            found[label].append(worker(trees[label], *arguments(label)))
    return found


def median(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def bench_imports(trees: dict, rounds: int, notebooks: list[str]) -> bool:
    print(f"load average before: {load()}")
    print("imports: the cell's import statements alone; cell: the whole import cell (with load_params, use_language)")
    print(f"{'notebook':18} {'tree':4} {'imports wall/cpu s':>18} {'cell wall/cpu s':>16} {'idle/imports/cell MB':>21}"
          "  heavy modules loaded by the cell")
    for notebook in notebooks:
        found = alternate(trees, rounds, lambda _: ("import_cell", notebook))
        for label, rows in found.items():
            print(f"{notebook:18} {label:4} {median(rows, 'imports_wall'):8.2f} /{median(rows, 'imports_cpu'):6.2f}    "
                  f"{median(rows, 'wall'):7.2f} /{median(rows, 'cpu'):6.2f}   {median(rows, 'rss_before_mb'):5.0f} /"
                  f"{median(rows, 'rss_imports_mb'):5.0f} /{median(rows, 'rss_after_mb'):5.0f}     "
                  f"{', '.join(rows[0]['heavy'])}")
        ratio = {key: median(found["new"], key) / median(found["old"], key) for key in ("imports_cpu", "cpu", "wall")}
        print(f"{'':18} new/old: imports cpu {ratio['imports_cpu']:.2f}, cell cpu {ratio['cpu']:.2f}, "
              f"cell wall {ratio['wall']:.2f}")
    print(f"load average after: {load()}")
    names = {label: worker(tree, "public_names") for label, tree in trees.items()}
    same = names["old"] == names["new"]
    print(f"segkit.__all__: {len(names['new']['names'])} names; every one resolves as before, dir() the same: {same}")
    return same


def bench_pages(trees: dict, rounds: int, folder: Path, pdf: bool) -> bool:
    print(f"load average before: {load()}")
    same = True
    with tempfile.TemporaryDirectory(prefix="fixed_cost_") as scratch:
        copies = {}
        for label in trees:
            copies[label] = Path(scratch) / label
            copies[label].mkdir()
            shutil.copy2(folder / "manifest.json", copies[label] / "manifest.json")
            shutil.copytree(folder / "executed", copies[label] / "executed")
            shutil.copy2(folder / "index.html", copies[label] / "index.html")
        for kind in ("html", "pdf") if pdf else ("html",):
            found = alternate(trees, rounds, lambda label: ("pages", str(copies[label]), kind))
            for label, rows in found.items():
                extra = f"  HarfBuzz subsetter found: {rows[0]['hb_subset']}" if kind == "pdf" else ""
                print(f"{kind:5} {label:4} wall {median(rows, 'wall'):6.2f} s  cpu {median(rows, 'cpu'):6.2f} s  "
                      f"peak {median(rows, 'peak_rss_mb'):5.0f} MB{extra}")
            print(f"{kind:5} new/old wall {median(found['new'], 'wall') / median(found['old'], 'wall'):.2f}, cpu "
                  f"{median(found['new'], 'cpu') / median(found['old'], 'cpu'):.2f}")
        for page in sorted(copies["old"].glob("*.html")):
            if page.read_bytes() != (copies["new"] / page.name).read_bytes():
                print(f"DIFFERENT: {page.name}")
                same = False
        if pdf:
            texts = {label: worker(trees[label], "pdf_text", str(copies[label])) for label in trees}
            equal = texts["old"] == texts["new"]
            print(f"PDF: {texts['new']['pages']} pages (old {texts['old']['pages']}); page count and text the same: {equal}")
            same = same and equal
    print(f"load average after: {load()}")
    print("HTML pages byte for byte the same" if same else "DIFFERENCES FOUND")
    return same


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        task, *arguments = sys.argv[2:]
        print(json.dumps({"import_cell": import_cell, "public_names": public_names, "pages": pages,
                          "pdf_text": pdf_text}[task](*arguments)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("imports", "pages"))
    parser.add_argument("run_folder", nargs="?", type=Path, help="pages: a finished run folder (its executed/)")
    parser.add_argument("--old", default="a36453c", help="git ref of the older segkit (default: a36453c)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of old and new (default: 3)")
    parser.add_argument("--notebooks", default=",".join(NOTEBOOKS), help="imports: which notebooks")
    parser.add_argument("--no-pdf", action="store_true", help="pages: the HTML only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fixed_cost_old_") as scratch:
        trees = {"old": extract(args.old, Path(scratch) / "old"), "new": REPO}
        if args.what == "imports":
            same = bench_imports(trees, args.repeat, args.notebooks.split(","))
        else:
            if args.run_folder is None:
                parser.error("pages needs RUN_FOLDER")
            same = bench_pages(trees, args.repeat, args.run_folder, not args.no_pdf)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
