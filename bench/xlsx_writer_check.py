"""Check a faster Excel writer against the workbook segkit writes with XlsxWriter (issue 15: the exports
at scale): rustpy-xlsxwriter (Python bindings of the Rust rust_xlsxwriter), on the edge frame of
tests/test_exports_fast.py (formula-like text, a URL, a number-like id, a control character, an empty
and a missing text, missing numbers, NaN, +inf and -inf, booleans, dates before 1900-03-01).

    pip install rustpy-xlsxwriter==0.8.0
    python bench/xlsx_writer_check.py

Writes both workbooks in a temporary folder, reads them back with openpyxl and prints every cell that
differs, and whether the note above the header (cell A1 of each segment sheet) can be written. Found
with 0.8.0: every data cell is the same (text as text, dates with their format, _x0001_ for a control
character, frozen panes) except +inf and -inf (XlsxWriter: the error #DIV/0!, rustpy: an empty cell, or
a text with `inf_value`), and a lone cell above the header cannot be written (a one-cell merge range is
refused; `header_row=1` leaves row 1 empty), so the note and the summary's title have no place.
What segkit does with it (segkit/report/exports.py, `_rust_workbook`): the note and the title go in a
merged range of row 1 from A1 (at least A1:B1), and a frame with +inf or -inf keeps XlsxWriter for the
whole workbook; tests/test_exports_workbook.py compares the two writers' workbooks cell by cell.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import openpyxl


def cells(path: Path, sheet: str) -> list[list]:
    rows = openpyxl.load_workbook(path)[sheet].iter_rows(min_row=2)
    return [[(c.value, c.data_type, c.number_format if c.is_date else None) for c in row] for row in rows]


def main() -> int:
    try:
        import rustpy_xlsxwriter as rx
    except ImportError:
        print("this check needs rustpy-xlsxwriter: pip install rustpy-xlsxwriter==0.8.0")
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_exports_fast import GRID, edge_frame

    import segkit.report.exports as ex
    from segkit.report.exports import _people_frame, write_excel

    frame = edge_frame().assign(revenue=[10.5, -12.25, np.nan, np.inf, -np.inf, 3.0, 0.0])
    people = _people_frame(frame, "en")
    part = people[frame["segment"].to_numpy() == "champions"].reset_index(drop=True).replace({"": None})
    date = rx.Format().set_num_format("yyyy-mm-dd")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        rust_cells = ex._rust_cells  # segkit writes with the Rust writer where it can: XlsxWriter forced here
        ex._rust_cells = lambda people, book: None
        try:
            write_excel(frame, folder / "xlsxwriter.xlsx", "en", GRID)
        finally:
            ex._rust_cells = rust_cells
        rx.write_worksheets([("Champions", part)], str(folder / "rustpy.xlsx"),
                            freeze_panes={"Champions": {"row": 2, "col": 0}}, header_row={"Champions": 1},
                            column_formats={"Champions": {"Last purchase": date}})
        differences = 0
        for a, b in zip(cells(folder / "xlsxwriter.xlsx", "Champions"), cells(folder / "rustpy.xlsx", "Champions")):
            for x, y in zip(a, b):
                if x != y:
                    differences += 1
                    print(f"differs: XlsxWriter {x} | rustpy-xlsxwriter {y}")
        print(f"{differences} cells differ in the header and data rows")
        try:
            rx.write_worksheets([("Champions", part)], str(folder / "note.xlsx"), header_row={"Champions": 1},
                                merge_ranges={"Champions": [(0, 0, 0, 0, "note")]})
            print("the note above the header can be written")
        except Exception as err:  # the extension raises RuntimeError
            print(f"the note above the header cannot be written: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
