"""Compare two runs' exports/ folders cell by cell: the CSVs byte for byte, the Parquet files as
tables (values, types and metadata), and every sheet of the workbooks read back by openpyxl (sheet
names, frozen panes, each cell's value and type, dates as dates). Used to check that a faster
writer leaves the files people get unchanged (issue 15: the exports at scale).

    python bench/compare_exports.py OLD_EXPORTS NEW_EXPORTS

Prints one line per file and exits 1 when anything differs. A number may differ beyond its 15th
significant digit only (Excel keeps 15; XlsxWriter writes 16 where openpyxl wrote Python's 17, so
0.9955000000000001 is read back as 0.9955): such cells are counted and shown, not failed. An
integer read back as a float (the Rust writer writes 1 as 1.0) is the same number. Merged cells are listed per file, not
compared: the Rust writer puts the note above a segment sheet's header in a merged range from A1, where
XlsxWriter wrote a lone cell A1 (the values read from A1 are compared as any other cell).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
import zipfile
from itertools import zip_longest
from pathlib import Path


def compare_csv(old: Path, new: Path) -> list[str]:
    return [] if old.read_bytes() == new.read_bytes() else [f"{new.name}: the bytes differ"]


def compare_parquet(old: Path, new: Path) -> list[str]:
    import pyarrow.parquet as pq

    a, b = pq.read_table(old), pq.read_table(new)
    problems = []
    if a.schema != b.schema or a.schema.metadata != b.schema.metadata:
        problems.append(f"{new.name}: the schemas differ")
    if not a.equals(b):
        problems.append(f"{new.name}: the values differ")
    return problems


def _panes(path: Path) -> list[str]:
    """Each sheet's <pane> element, in sheet order (attribute order aside)."""
    with zipfile.ZipFile(path) as archive:
        names = sorted((n for n in archive.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)),
                       key=lambda n: int(re.search(r"\d+", n.rsplit("/", 1)[1]).group()))
        panes = []
        for name in names:
            head = archive.read(name)[:4000].decode("utf-8", "replace")
            found = re.search(r"<pane ([^>]*?)\s*/>", head)
            panes.append(" ".join(sorted(re.findall(r'(\w+="[^"]*")', found.group(1)))) if found else "")
        return panes


def _merges(path: Path) -> dict[str, list[str]]:
    """Each sheet's merged ranges (its <mergeCell ref=...> elements), by the sheet's file name."""
    with zipfile.ZipFile(path) as archive:
        return {name: re.findall(r'<mergeCell ref="([^"]+)"', archive.read(name).decode("utf-8", "replace"))
                for name in archive.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", name)}


def _same(a, b) -> str:
    """"" when the two cells hold the same thing, "float" when two numbers differ beyond the 15th
    significant digit only, else "diff"."""
    if a == "" and b is None or a is None and b == "":  # an empty text cell: shown as empty either way
        return ""
    if isinstance(a, bool) or isinstance(b, bool):
        return "" if type(a) is type(b) and a == b else "diff"
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers):
        if a == b:
            return ""
        return "float" if math.isclose(a, b, rel_tol=1e-15, abs_tol=0.0) else "diff"
    if isinstance(a, (dt.datetime, dt.date)) or isinstance(b, (dt.datetime, dt.date)):
        return "" if type(a) is type(b) and a == b else "diff"
    return "" if type(a) is type(b) and a == b else "diff"


def compare_xlsx(old: Path, new: Path) -> list[str]:
    import openpyxl

    a = openpyxl.load_workbook(old, read_only=True)
    b = openpyxl.load_workbook(new, read_only=True)
    problems = []
    if a.sheetnames != b.sheetnames:
        return [f"{new.name}: sheets {a.sheetnames} != {b.sheetnames}"]
    if _panes(old) != _panes(new):
        problems.append(f"{new.name}: frozen panes {_panes(old)} != {_panes(new)}")
    for path in (old, new):
        merges = _merges(path)
        print(f"{path}: merged ranges {sum(len(m) for m in merges.values())} "
              f"({', '.join(sorted({r for m in merges.values() for r in m})[:5]) or 'none'})")
    cells = close = 0
    for name in a.sheetnames:
        rows_a = a[name].iter_rows(values_only=True)
        rows_b = b[name].iter_rows(values_only=True)
        for number, (row_a, row_b) in enumerate(zip_longest(rows_a, rows_b, fillvalue=()), start=1):
            for column, (x, y) in enumerate(zip_longest(row_a, row_b, fillvalue=None), start=1):
                cells += 1
                verdict = _same(x, y)
                if verdict == "float":
                    close += 1
                elif verdict:
                    problems.append(f"{new.name}: sheet {name!r} row {number} column {column}: {x!r} != {y!r}")
                    if len(problems) > 20:
                        return problems + ["... (stopped after 20 differences)"]
    print(f"{new.name}: {cells:,} cells compared, {close:,} numbers differ beyond the 15th significant digit only")
    return problems


def main(old_dir: str, new_dir: str) -> int:
    old, new = Path(old_dir), Path(new_dir)
    for folder in (old, new):
        if not folder.is_dir():
            print(f"{folder} is not a folder: give two runs' exports/ folders (reports/<run>/exports)")
            return 2
    names = sorted(p.name for p in old.iterdir() if not p.name.startswith("."))
    if names != sorted(p.name for p in new.iterdir() if not p.name.startswith(".")):
        print(f"the folders hold different files: {names} and {sorted(p.name for p in new.iterdir())}")
        return 1
    problems = []
    for name in names:
        check = {".csv": compare_csv, ".parquet": compare_parquet, ".xlsx": compare_xlsx}[Path(name).suffix]
        found = check(old / name, new / name)
        print(f"{name}: {'same' if not found else 'DIFFERENT'} ({(old / name).stat().st_size:,} -> "
              f"{(new / name).stat().st_size:,} bytes)")
        problems += found
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:3]))
