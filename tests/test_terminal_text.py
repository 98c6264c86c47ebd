"""What the commands print on the terminal, in the params' language (`lang: zh`): progress lines,
notes and errors through segkit/locale/terminal.yaml (`segkit.i18n.terminal_text`), with paths,
params keys, column names and values kept as they are, and no English word left over."""

import re

import pytest
from typer.testing import CliRunner

from conftest import run_segkit, write_params
from segkit.cli import app
from segkit.i18n import terminal_text

# words that stay as they are in a Chinese line: names of formats, tools, options, params keys, segkit's
# column names and exception classes
KEPT = {"HTML", "PDF", "SSL", "YAML", "UTF-8", "GBK", "GB18030", "Windows", "Excel", "WPS", "CSV", "xls", "xlsx", "DataError", "ParamsError", "MonthNotInData", "YYYY", "YYYY-MM", "YYYY-MM-DD", "UTF", "manifest", "json", "last", "HarfBuzz", "Debian", "Ubuntu", "apt", "get", "install",
        "libharfbuzz", "subset0", "segkit", "debug", "traceback", "force", "month", "run_name", "as_of",
        "quantity", "unit_price", "amount", "customer_id", "header_row", "quarantine", "parquet", "RuntimeError",
        "Python", "python", "ipykernel", "KeyError", "ValueError", "SystemExit", "cron", "COPY", "dir", "ASCII",
        "A-Z", "a-z", "exit", "JSON", "Jupyter", "JupyterLab", "sys"}


def english_left(line: str) -> list[str]:
    """The English words of `line` that are not a path, a params key, a quoted value or a KEPT word."""
    line = re.sub(r'"[^"]*"|`[^`]*`|\'[^\']*\'', "", line)  # values, commands
    line = re.sub(r"--[a-z]+|(?:此处允许|可用的格式|以下之一)：[^）；，]*", "", line)  # options, the choices
    line = re.sub(r"\butf-8-sig\b|\bU\+[0-9A-F]{4,6}\b", "", line)  # an encoding's name, a character's code point
    line = re.sub(r"\S+=\S+|\b[a-z]+-?\d+\b|编码（[^）]*）", "", line)  # overrides, encodings, Python's reason
    line = re.sub(r"现有的(?:列|工作表)：[^）]*|意外的 \w+：[^；]*|解析器的原话：[^）]*|数据库的原话：[^）]*|系统的原话：[^）]*|现有的表：[^）]*|无法读取（[^）]*|工作簿（[^）]*|可映射的列：[^（]*|列映射中的 \w+", "", line)  # the data's column names, an error's own words
    line = re.sub(r"[a-z_]+(?:\.[a-z_]+)+", "", line)  # params keys
    line = re.sub(r"\b[a-z0-9]+_[a-z0-9_]+\b", "", line)  # segkit's names (rules, columns)
    line = re.sub(r"\S*/\S*|\S+\.(?:yaml|csv|ipynb|html|duckdb)\b", "", line)  # paths and files
    line = re.sub(r"\b\d+_\w+|多余的参数（[^）]*）", "", line)  # notebooks, the arguments a command was given
    line = re.sub(r"\bdemo[-\w]*", "", line)  # the run names of these lines
    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9_-]{2,}", line) if w not in KEPT]


# each line as the code writes it (segkit/report/runner.py, segkit/cli.py, segkit/monthly/backfill.py,
# segkit/intake/sources.py, segkit/intake/cleaning.py, segkit/params.py)
LINES = [
    "error: database table shop.lines: the column member (customer_id) holds 3 numbers too large to be exact, e.g. "
    "3456789012345678848: they were kept as floating-point numbers (an Excel cell, a double column), which hold about "
    "16 digits, and the rest was rounded away, so different customers may now share one number; load the ids again as "
    "text from the system they come from",
    "error: data/shop.duckdb: no table 'orders' (tables there: lines, customers); set source.transactions.table",
    "error: 01_cleaning: database table shop.empty: there are no transactions: the table holds no rows; check the "
    "table or view the params name, and that this user may see its rows",
    "error: p.yaml: unknown key 'source.database.query'; segkit reads a table or a view: create a view of the query "
    "in the database (CREATE VIEW shop.lines AS SELECT ...) and name it in source.database.table (allowed here: "
    "columns, customers, password_env, surveys, table, url)",
    "error: p.yaml: source.database: table must name a table or a view (table, or schema.table), not a query; to read "
    "a query, create a view of it in the database (CREATE VIEW shop.lines AS SELECT ...) and name the view here",
    # a database source: each line as segkit/intake/sources.py and cleaning.py write it, some inside a
    # notebook's failure (which adds "; the executed notebook is at ...")
    "error: 01_cleaning: cannot connect to the database at localhost:55433/shopdb as analyst (connection failed: "
    "password authentication failed for user \"analyst\"); check that the server runs and accepts connections, "
    "source.database.url, the password in $SHOP_DB_PASSWORD, and that this user may read the tables; the executed "
    "notebook is at /tmp/r/executed/01_cleaning.ipynb",
    "error: 01_cleaning: cannot connect to the database at h:5432/db as bob (timeout expired); check that the server "
    "runs and accepts connections, source.database.url and the ssl options of the url (sslmode, sslrootcert, sslcert, "
    "sslkey: files that exist), and that this user may read the tables",
    "error: 01_cleaning: database table shop.ordrs: no table 'shop.ordrs'; did you mean \"orders\"? (tables there: "
    "orders, order_items); fix the table name in source.database; the executed notebook is at /tmp/r/01.ipynb",
    "error: database table orders: no table 'orders' in the schema public; it is in shop.orders: name it so (tables "
    "there: none); fix the table name in source.database",
    "error: 01_cleaning: database table public.t: column \"amount\" (for amount) is string, not a number; in the "
    "database the columns must be typed: read a view that casts it (e.g. CAST(amount AS numeric), or "
    "CAST(replace(replace(amount, '$', ''), ',', '') AS numeric) where the text holds a currency sign and thousands "
    "separators, as in $1,234.50); the executed notebook is at /tmp/r/01.ipynb",
    "error: 01_cleaning: database table public.v: the database stopped segkit's query of the transactions "
    "(InvalidTextRepresentation: invalid input syntax for type numeric: \"$251.18\"); check the table or view "
    "source.database names: a cast in a view fails on a value it cannot read (e.g. a currency sign in a text "
    "amount), or the connection was lost; the executed notebook is at /tmp/r/01.ipynb",
    "error: 01_cleaning: database table shop.v: column \"amt\" (for amount) is not there; did you mean \"amount\"? "
    "(columns there: amount, ts); fix source.database.columns.; the executed notebook is at /tmp/r/01.ipynb",
    "error: source.database.password_env names SHOP_PW, which is not set: export SHOP_PW=... before the run",
    "error: 01_cleaning: /d/taobao.csv: the column 订单编号 (order_id) holds 1,917 values in scientific notation, e.g. "
    "\"3.45679E+18\" in row 2: a spreadsheet rounded these ids when it saved the file, so different orders may now share "
    "one number; export the file again from the system it comes from (in Excel, format the column as Text before "
    "saving as CSV) or write order_id: null in source.transactions.columns (with a preset; else leave it out of the "
    "map) to count one order per customer and day",
    "[1/8] running 01_cleaning",
    "      01_cleaning done in 25.9 s",
    "writing HTML",
    "writing PDF",
    "writing PDF (slowly: HarfBuzz's font subsetter is missing; on Debian/Ubuntu `apt-get install "
    "libharfbuzz-subset0` makes it 20-30 s faster)",
    "writing exports",
    "report ready: /tmp/r/demo/index.html",
    "done in 23.9 s: open /tmp/r/demo/index.html",
    "history: 3,996 customers of demo-zh for 2025-12 in /tmp/r/history.duckdb",
    "history: not updated: its month 2025-12 of demo is the report demo-2025-12's; add --force to replace it "
    "with this run",
    "--month 2025-11 replaces as_of 2025-12-31 of demo.yaml",
    "read /data/orders.csv in 1.2 s: 12 months to classify",
    "[3/12] 2025-03: 1,234 customers in 0.4 s",
    "[1/12] 2025-01: skipped: the data start on 2025-02-03, after this month",
    "[12/12] 2025-12: skipped: the data end on 2025-10-31, before this month",
    "[12/12] 2025-12: skipped: the data end on 2025-12-21, 10 days before the end of 2025-12, more than their "
    "longest gap between purchase days in the 91 days before (3 days, at least 3): its figures would cover part of "
    "it; --force writes it",
    "history: not updated: the data end on 2025-12-21, 10 days before the end of 2025-12, more than their longest "
    "gap between purchase days in the 91 days before (3 days, at least 3): its figures may cover only part of the "
    "month, and the history keeps whole months; run again once its data are complete, or add --force to write it "
    "as it is",
    "history: not updated: the run counts up to its as-of date 2025-12-30, 1 day before the end of 2025-12, and "
    "the data go on after it: its figures may cover only part of the month, and the history keeps whole months; "
    "run with --month 2025-12 for the whole month, or add --force to write it as it is",
    "history: not updated: the run counts up to its as-of date 2025-12-20, 11 days before the end of 2025-12, and "
    "the data go on after it: its figures may cover only part of the month, and the history keeps whole months; "
    "run with --month 2025-12 for the whole month, or add --force to write it as it is",
    "history: not updated: 2026-12 has not ended yet: today is 2026-12-05, its last day 2026-12-31: its figures may "
    "cover only part of the month, and the history keeps whole months; run again after its end (2026-12-31), or add "
    "--force to write it as it is",
    "[1/1] 2026-12: skipped: 2026-12 has not ended yet: today is 2026-12-05, its last day 2026-12-31: its figures "
    "would cover part of it; run again after its end (2026-12-31), or --force writes it",
    "error: no month from 2026-12 to 2026-12 was written (skipped: 2026-12 has not ended yet: today is 2026-12-05, "
    "its last day 2026-12-31: its figures would cover part of it; run again after its end (2026-12-31), or --force "
    "writes it)",
    "error: no month from 2025-12 to 2025-12 was written (skipped: the data end on 2025-12-21, 10 days before the "
    "end of 2025-12, more than their longest gap between purchase days in the 91 days before (3 days, at least 3): "
    "its figures would cover part of it; --force writes it)",
    "done: 11 months written in 5.8 s (1 skipped, said above), in reports/history.duckdb",
    "error: interrupted",
    "error: unexpected RuntimeError: boom; run again as `segkit --debug ...` and report the traceback",
    "error: /tmp/x/orders.csv: no such file (check source.transactions.path in the params file)",
    "error: /tmp/x/files/orders.csv: no such file (did you mean woo_orders.csv in /tmp/x?); check "
    "source.transactions.path in the params file (a relative path is read from the params file's folder)",
    "error: /tmp/x/orders.csv: no such file; check source.transactions.path in the params file (a relative path is "
    "read from the params file's folder)",
    "error: /tmp/x/none.yaml: no such params file (look in params/ for the shipped ones)",
    "error: /tmp/x: is a folder, not a file; set source.transactions.path to the file itself",
    "error: /tmp/x: is a folder, not a params file; give the .yaml file (YAML files there: a.yaml, b.yml)",
    "error: /dev/null: not a regular file (look in params/ for the shipped ones)",
    "error: /tmp/x/p.yaml lines 3 and 40: the key 'cleaning' is given twice in the same block, and the second would "
    "replace the whole first; keep one (merge the two blocks)",
    "error: /tmp/x/p.yaml line 3: the key \"it's\" is given twice in the same block, and the second would replace "
    "the whole first; keep one (merge the two blocks)",
    "error: /tmp/x/gbk.yaml line 2, byte 3: the file is not UTF-8 (byte 0xd6); it looks like GBK/GB18030 (what "
    "Chinese Windows saves); save it as UTF-8 (e.g. in Notepad: Save as, Encoding UTF-8)",
    "error: /tmp/x/p.yaml: cannot be read (Permission denied); check that the file exists and that you may read it",
    "error: /tmp/x/big.csv: larger than 1,000,000 bytes, too large for a params file; params hold settings, data "
    "belong in the data files",
    "warning: data/profile.parquet in reports/demo changed after the report was made (e.g. by `segkit run ... "
    "--force`): these exports follow the files as they are now, which the report's pages do not show; run "
    "`segkit report ... --force` with the params you want to make them agree",
    "error: /tmp/x/bad.yaml line 3, column 1: not valid YAML: while parsing a flow sequence, expected ',' or ']', "
    "but got '<stream end>'",
    "error: /tmp/x/bad.yaml line 2: not valid YAML: the character U+0007 is not allowed (a control character); "
    "delete it, or write it in a double-quoted string as \\x..",
    "error: reports/demo already holds a good report of demo (made 2026-12-02 19:29); add --force to replace it "
    "(and its month in the history), or give another run_name or --month",
    "error: reports/shop-2026-01 already holds a good report of shop-2026-01 (made 2026-12-04 23:41), whose data ended "
    "on 2026-01-14, 17 days before the month's end (part of the month, not in the history); add --force to replace it "
    "(and its month in the history), or give another run_name or --month",
    'error: notebook 01_cleaning failed in cell 5 (DataError: /tmp/x/bad.csv: column "customer_id" (for '
    'customer_id) is not there (columns there: a, b); fix source.transactions.columns.); the executed notebook '
    "is at /tmp/x/demo.failed/executed/01_cleaning.ipynb",
    'error: /tmp/b.csv: column "amount" (for amount) is not there; did you mean "amt"? (columns there: amt, b); '
    "fix source.transactions.columns (or map quantity and unit_price: amount is then their product). The first "
    "row looks like data (1, 2), not column names: add a header row, or set header_row.",
    "error: q.yaml: rfm.bins must be an integer from 2 to 10, got 55",
    "error: export format 'xls' is not one segkit writes; formats: csv, xlsx, parquet, postgres",
    "error: --encoding must be one of utf-8-sig, gb18030, gbk, got 'big5'",
    # a character the CSV's encoding cannot write (segkit.report.exports._check_encodable)
    'error: cannot write customers.csv in GBK: row 7 (客户ID "C9"), column "聚类名称" holds "😀" (U+1F600), which GBK '
    "cannot encode; write the CSV in gb18030 (--encoding gb18030, or exports.csv_encoding: gb18030), which encodes "
    "every character and writes GBK's characters as GBK does, or in utf-8-sig",
    'error: cannot write moved_to_at_risk.csv in GBK: the header row, column "€ value" holds "€" (U+20AC), which GBK '
    "cannot encode; write the CSV in gb18030 (--encoding gb18030, or exports.csv_encoding: gb18030), which encodes "
    "every character and writes GBK's characters as GBK does, or in utf-8-sig",
    "error: bad.yaml: unknown key 'rfm.binz'; did you mean 'rfm.bins'? (allowed here: bins, class_map, segment_map)",
    "error: shop.yaml: cleaning.returns.action must be one of 'net' or 'drop', got 'netto'",
    "error: --set rfm.bins=abc: rfm.bins: input should be a valid integer, unable to parse string as an integer, "
    "got 'abc'",
    "error: --month '2025-13' is not a month: write it as YYYY-MM (e.g. 2026-10, months 01 to 12), or `last` for "
    "the month that ended most recently",
    "error: --month 2030-01 has not started yet (today is 2026-12-04): give a month up to 2026-12, or `last` for the "
    "month that ended most recently",
    "error: --from 2025-06 is after --to 2025-01: the months run from the first to the last",
    "error: no month from 2026-02 to 2026-03 was written (skipped: the data end on 2025-12-31, before this month)",
    "error: 01_cleaning: /tmp/x/orders.csv: the data end on 2025-12-31, before the month 2026-03 starts: there is "
    "nothing of 2026-03 to report (is the source up to date? a feed may be late); run a month up to 2025-12 with "
    "--month, or wait for the data; the executed notebook is at /tmp/x/r.failed/executed/01_cleaning.ipynb",
    "error: 01_cleaning: none of the 3140 rows is dated on or before the as-of date (3088 are after it, the others "
    "were set aside for what they hold); the data start on 2024-01-05, after the as-of date 2023-06-30: give a "
    "month (or as_of) on or after it; the executed notebook is at /tmp/x/r.failed/executed/01_cleaning.ipynb",
    # a month outside the data, refused before 01 (segkit.report.runner.month_outside_message) or after it
    "error: /tmp/x/orders.csv: the data run from 2024-01-03 to 2025-12-14, before the month 2026-03 starts: there is "
    "nothing of 2026-03 to report (is the source up to date? a feed may be late); give a month from 2024-01 to "
    "2025-12 with --month, e.g. --month 2025-12, or wait for the data",
    "error: /tmp/x/orders.csv: the data run from 2024-01-03 to 2025-12-14, before the month 2026-02 starts: there is "
    "nothing of 2026-02 to report (is the source up to date? a feed may be late); give a month from 2024-01 to "
    "2025-12 with --month, e.g. --month 2025-12 (or --month last), or wait for the data",
    "error: /tmp/x/orders.csv: the data run from 2024-01-03 to 2025-12-14, after the month 2023-10 ends: there is "
    "nothing of 2023-10 to report; give a month from 2024-01 to 2025-12 with --month, e.g. --month 2024-01",
    "error: /tmp/x/orders.xlsx: the data end on 2025-12-31, before the month 2026-03 starts: there is nothing of "
    "2026-03 to report (is the source up to date? a feed may be late); run a month up to 2025-12 with --month, or "
    "wait for the data; the last good report in /tmp/x/reports/shop-2026-03 is untouched",
    "error: /tmp/x/orders.csv: the data run from 2024-01-03 to 2025-12-14: no month from 2026-01 to 2026-03 is in "
    "them; give --from and --to within 2024-01 to 2025-12",
    "error: /tmp/x/orders.csv line 1: bytes b'\\xb6\\xa9' are not utf-8 (invalid start byte); it reads as gb18030: "
    "state the file's real encoding in source.transactions.encoding, or leave it out to detect",
    "no purchase on or before the calibration end 2024-12-31 (evaluate.calibration_end, or evaluate.holdout_months "
    "months before the as-of date); set a later evaluate.calibration_end, or fewer evaluate.holdout_months",
    "evaluate.calibration_end (2025-06-30) must be before the data's end (2025-06-30): there is no holdout period "
    "to test on",
    "error: /tmp/x/empty.csv: the file is empty; export it again with a header row",
    "error: /tmp/x/o.xls: the old Excel format .xls is not read; open it in Excel or WPS and save it as .xlsx (or as CSV)",
    "error: /tmp/x/o.xlsx: not a readable .xlsx workbook (File is not a zip file); save it again from Excel or WPS as "
    ".xlsx",
    "error: /tmp/x/o.csv: the column map names customer, which segkit does not use (did you mean 'customer_id' for "
    "'customer'?); map to customer_id, order_id, ordered_at, amount, quantity, unit_price, category, product, channel, "
    "status (source.transactions.columns)",
    "error: p.yaml: cleaning.returns.status_values: input should be a valid list, got '已退款'",
    "error: /tmp/x/only_header.csv: there are no transactions: the file holds only its header; export the data "
    "again, or check the file the params name",
    "error: 01_cleaning: there are no transactions: the source holds no rows (a file with only its header?); export "
    "the data again, or check the file or table the params name; the executed notebook is at /tmp/x/r.ipynb",
    "done: 4 exports",
    "error: --set as_of=31/12/2025: as_of must be a date that exists, written YYYY-MM-DD (e.g. 2025-12-31), got '31/12/2025'",
    "error: /tmp/x/p.yaml: cleaning: unpaid_status_values and returns.status_values both list ['cancelled']: a status is "
    "either an order never paid (unpaid_status_values) or a refund or cancellation (returns.status_values); keep it in "
    "one of them",
    "error: /tmp/x/woo.yaml: no such params file; did you mean /tmp/x/woo.yml?",
    "error: /tmp/x/shop.yaml: no such params file (YAML files in /tmp/x: demo.yaml, woo.yml)",
    "error: /tmp/x/t.csv line 3: 4 values, but the header (line 1) names 1 column; check the separator (read as "
    "comma) and the quotes, or state source.transactions.separator. The column names are in row 3: set "
    "source.transactions.header_row: 3.",
    'error: /tmp/x/s.xlsx: column "Customer" (for customer_id) is not there (columns there: Sales by customer, '
    "Unnamed: 1); fix source.transactions.columns. The column names are in row 2: set "
    "source.transactions.header_row: 2.",
    'error: 01_cleaning: /tmp/x/t.csv: no row has a readable date in the column "when" (e.g. "Alice"): check that the '
    "column map's ordered_at names the date column, and the dates' format (cleaning.day_first for dates like "
    "05/01/2024, cleaning.min_date for old dates); all 3 rows were set aside (unreadable_date: 2, missing_date: 1) "
    "(quarantine.parquet in /tmp/x/data); the executed notebook is at /tmp/x/r.ipynb",
    'error: /tmp/x/t.csv: no row has a readable date in the column "Order Date" (every value is empty): check that '
    "the column map's ordered_at names the date column; all 2 rows were set aside (missing_date: 2) (quarantine.parquet "
    "in /tmp/x/data)",
    'error: /tmp/x/sales.xlsx: no sheet "Sheet1" (sheets there: Sales 2024); fix source.transactions.sheet',
    'error: /tmp/x/sales.xlsx: no sheet "Sales"; did you mean "Sales 2024"? (sheets there: Sales 2024, Notes); '
    'fix source.transactions.sheet',
    'error: /tmp/x/sales.xlsx: no header in row 3 of sheet "Sales 2024"; set source.transactions.header_row to the '
    'row that holds the column names',
    # a report run that failed or was interrupted (segkit/report/runner.py), `segkit run` (segkit/cli.py)
    "error: the run was interrupted while running notebook 01_cleaning; the executed notebook is at "
    "/r/x.failed/executed/01_cleaning.ipynb",
    "error: the run was interrupted while running notebooks 03_customer_value and 04_clustering; what the run made "
    "is in /r/x.failed",
    "error: the run was interrupted while writing the PDF; what the run made is in /r/x.failed; the last good report "
    "in /r/x is untouched",
    "error: writing the PDF failed: cannot write /r/x/report.pdf: the disk is full; free some space, or write the "
    "reports to another disk with --out",
    "error: putting the report in place in /r/x failed: cannot write in /r: permission denied; choose a folder you "
    "can write to with --out, or change its permissions",
    "error: writing the HTML pages failed (KeyError: 'x'); `segkit --debug report ...` shows where; what the run "
    "made is in /r/x.failed",
    "error: notebook 02_rfm was stopped in cell 4: it ran longer than report.cell_timeout_minutes (30); raise "
    "report.cell_timeout_minutes in the params (e.g. --set report.cell_timeout_minutes=60) or find out why the cell "
    "is slow",
    "error: notebook 02_rfm: the Python kernel died in cell 4 (it ran out of memory, or the cell ended the process); "
    "look at that cell, or give the machine more memory",
    "error: notebook 02_rfm stopped early, in cell 3 (SystemExit: 0); a report notebook must run to its last cell: "
    "remove the exit() / sys.exit() call, or raise an exception to fail the run",
    "error: /r/x exists and is not a report folder; move it away and run again",
    "error: cannot use the reports folder /r: cannot write /r/x: permission denied; choose a folder you can write to "
    "with --out, or change its permissions",
    "error: the Python kernel died as it started, three times; check that ipykernel works in the environment that "
    "runs segkit (python -m ipykernel_launcher --help)",
    "error: cannot find the notebook 09_x.ipynb in /a/notebooks; run from your project folder (`segkit init DIR` "
    "makes one) or pass --notebooks",
    "error: notebook /n/02_rfm.ipynb is missing (the folder does not exist); pass the project's notebooks/ folder to "
    "--notebooks or restore the file",
    "error: notebook 02_rfm failed in cell 4 (ValueError: 0) (it ran beside another notebook: --set "
    "report.notebooks_at_once=1 runs one at a time); the executed notebook is at /r/x.ipynb",
    "error: /r/shop/data holds the stage files of the finished report /r/shop: running 02_rfm there would change "
    "them under its pages, manifest and exports. Copy the folder (cp -r /r/shop/data COPY) and give --data-dir COPY, "
    "or add --force to change the report's files",
    "error: cannot write /x/y: Permission denied; choose other folders with --data-dir / --output",
    "error: notebook 'x' does not exist; choose one of 01_cleaning, 02_rfm",
    "error: --month is empty (in a cron line, is its variable set?): give a month as YYYY-MM (e.g. 2026-10), or "
    "`last` for the month that ended most recently",
    "error: --set run_name=门店会员: run_name has the wrong form (ASCII letters A-Z and a-z, digits 0-9, '-', '_' and "
    "'.' only, starting with a letter or digit, e.g. stores-2025), got '门店会员'",
    "error: /p/x.yaml: a customer-level source (source.kind: customers) is one picture, not a history of purchases: "
    "there are no earlier months to backfill",
    "error: 2024-03: all 12 rows were set aside (missing_customer_id: 12); run `segkit report --params /p/x.yaml "
    "--month 2024-03` to see each row set aside and why (01_cleaning and its quarantine), then fix the source, the "
    "column map or the cleaning rules",
    "error: No such command 'reprot'. Did you mean 'report', 'export'?",
    "error: No such command 'x'.",
    "error: Missing option '--params' / '-p'.",
    "error: Missing argument 'RUN_FOLDER'.",
    "error: No such option: --parms (Possible options: --params)",
    "error: No such option: --x",
    "error: Option '--month' requires an argument.",
    "error: Option '--force' does not take a value.",
    "error: Got unexpected extra argument(s) (extra more)",
    "error: Invalid value for '--params' / '-p': Path 'x' does not exist.",
    "error: /tmp/x/orders.csv: all 12 rows were set aside (missing_customer_id: 12); see the quarantine for each "
    "row and its reason, and fix the source, the column map or the cleaning rules (quarantine.parquet in /tmp/x)",
    "error: /tmp/x/orders.csv: the 1 row was set aside (missing_customer_id: 1); see the quarantine for each "
    "row and its reason, and fix the source, the column map or the cleaning rules (quarantine.parquet in /tmp/x)",
    "[3/12] 2024-03: 1 customer in 0.4 s",
    "error: /tmp/x/sci.csv: the column cid (customer_id) holds 1 value on 50 rows in scientific notation, e.g. "
    "\"1.38000E+10\" in row 2: a spreadsheet rounded these ids when it saved the file, so different customers may now "
    "share one number; export the file again from the system it comes from (in Excel, format the column as Text "
    "before saving as CSV)",
    # a file whose encoding changes part-way (trial: a GBK export with UTF-8 lines pasted after it)
    "error: /tmp/x/pasted.csv line 501 is UTF-8, not GB18030 (GBK), the encoding of the lines before it: the file "
    "changes its encoding part-way (two exports pasted together?); save it again in one encoding, or state "
    "source.transactions.encoding (other lines are then refused by line)",
    "error: /tmp/x/pasted.csv line 7 is UTF-8, not GB18030 (GBK), the encoding of the lines before it: the file "
    "changes its encoding part-way (two exports pasted together?); save it again in one encoding",
    "error: /tmp/x/pasted.csv line 12 does not decode as GB18030 (GBK) (bytes b'\\x80\\x81'), the encoding of the "
    "lines before it: the file changes its encoding part-way (two exports pasted together?); save it again in one "
    "encoding, or state source.transactions.encoding (other lines are then refused by line)",
]


@pytest.mark.parametrize("line", LINES)
def test_each_line_is_said_in_chinese_keeping_paths_keys_and_values(line):
    zh = terminal_text(line, "zh")
    assert english_left(zh) == [], zh
    for kept in re.findall(r'"[^"]*"|\S*/\S+|\d[\d,.]*', line):  # values, paths, numbers
        assert kept.rstrip(".,;:)?") in zh, (kept, zh)
    assert terminal_text(line, "en") == line and terminal_text(line, None) == line


def test_a_line_no_pattern_knows_stays_as_written():
    assert terminal_text("something segkit 9 says", "zh") == "something segkit 9 says"


def test_the_commands_speak_the_params_language(tmp_path):
    """`segkit check` on a zh params file whose data file is missing, or whose params are wrong
    (the message of a file that fails validation is still in its language); English with --set lang=en."""
    params = write_params(tmp_path, "zh", lang="zh", source={"kind": "file", "transactions": {
        "path": str(tmp_path / "missing.csv")}})
    done = run_segkit("check", "--params", str(params))
    assert done.returncode != 0
    assert (f"错误：{tmp_path / 'missing.csv'}：文件不存在；请检查参数文件中的 source.transactions.path（相对路径从"
            "参数文件所在的文件夹算起）") in done.stderr
    english = run_segkit("check", "--params", str(params), "--set", "lang=en")
    assert "error: " in english.stderr and "no such file" in english.stderr
    bad = write_params(tmp_path, "bad", lang="zh", rfm={"bins": 55})
    done = run_segkit("check", "--params", str(bad))
    assert "rfm.bins 必须是 2 到 10 之间的整数，实际为 55" in done.stderr and english_left(done.stderr) == []


def test_a_backfill_in_chinese_says_each_month_in_chinese(tmp_path):
    params = write_params(tmp_path, "tiny", lang="zh")
    result = CliRunner().invoke(app, ["backfill", "--params", str(params), "--from", "2024-11", "--to", "2025-01",
                                      "--out", str(tmp_path / "reports")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("/")]
    # 2025-01 ends after the params' as_of (2024-12-31): said first, as segkit report --month says it
    assert lines[0] == "2025-01 取代 tiny.yaml 中的 as_of 2024-12-31（该月按其月末分类）"
    assert lines[1].startswith("已读取 ") and "待分类 3 个月" in lines[1]
    assert re.match(r"\[1/3\] 2024-11：\d+ 位客户，用时 [\d.]+ 秒", lines[2])
    assert lines[4] == "[3/3] 2025-01：跳过：数据截止于 2024-12-31，早于这个月"
    assert lines[5].startswith("完成：写入 2 个月") and "跳过 1 个，原因见上" in lines[5]
    assert all(english_left(line) == [] for line in lines), lines


def test_segkit_export_speaks_the_language_of_the_run(tmp_path):
    import json

    run = tmp_path / "shop"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"params": {"run_name": "shop", "lang": "zh",
                                                              "source": {"kind": "demo"}}}), encoding="utf-8")
    result = CliRunner().invoke(app, ["export", str(run), "--encoding", "big5"])
    assert result.exit_code != 0
    assert "错误：--encoding 必须是以下之一：utf-8-sig, gb18030, gbk，实际为 'big5'" in result.output


@pytest.mark.parametrize("locale, lang", [({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LC_ALL": "zh_TW.UTF-8", "LANG": "C"}, "zh"),
                                          ({"LANG": "en_US.UTF-8"}, "en"), ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en")])
def test_before_any_params_file_names_a_language_the_terminals_is_spoken(tmp_path, locale, lang):
    """A params file that is not there has no `lang`: its error is in the terminal's language (the first
    of LC_ALL, LC_MESSAGES, LANG that is set)."""
    env = {"LC_ALL": None, "LC_MESSAGES": None, "LANG": None, **locale}
    result = CliRunner().invoke(app, ["check", "--params", str(tmp_path / "none.yaml")], env=env)
    assert result.exit_code != 0
    said = {"zh": f"错误：{tmp_path / 'none.yaml'}：参数文件不存在（自带的参数文件在 params/ 中）",
            "en": f"error: {tmp_path / 'none.yaml'}: no such params file"}[lang]
    assert said in " ".join(result.output.split()), result.output


def test_a_params_file_that_is_not_yaml_or_says_cn_is_refused_in_chinese(tmp_path):
    """A file that is not valid YAML is said in the language of its `lang:` line; `lang: cn` (which segkit
    does not take) is refused in the Chinese it plainly means, whatever the terminal's language."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("lang: zh\nrun_name: [x\n", encoding="utf-8")
    env = {"LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_US.UTF-8"}
    result = CliRunner().invoke(app, ["check", "--params", str(broken)], env=env)
    text = " ".join(result.output.split())
    assert result.exit_code != 0 and "第 3 行第 1 列：不是有效的 YAML（解析器的原话：" in text, text
    assert english_left(text) == [], text
    cn = write_params(tmp_path, "cn", lang="cn")
    result = CliRunner().invoke(app, ["check", "--params", str(cn)], env=env)
    text = " ".join(result.output.split())
    assert result.exit_code != 0 and "lang 必须是以下之一：'en' 或 'zh'，实际为 'cn'" in text, text
    english = write_params(tmp_path, "fr", lang="fr")
    result = CliRunner().invoke(app, ["check", "--params", str(english)], env=env)
    assert "error: " in result.output and "lang must be one of" in " ".join(result.output.split())


@pytest.mark.parametrize("content", [
    "lang: zh_CN\nrun_name: x\n".encode(),                       # a locale name: Chinese meant, refused in Chinese
    "\ufefflang: zh\nrun_name: [x\n".encode(),                   # a BOM (read_params_text takes it) and broken YAML
    "lang: zh\n# 中文注释\nrun_name: x\n".encode("gbk"),         # saved as GBK by Chinese Windows
    b"lang: zh\nx: " + b"[" * 3000 + b"\n",                      # nested past PyYAML's recursion
])
def test_the_params_language_is_found_in_files_segkit_refuses(tmp_path, content):
    """Whatever keeps a params file from loading, a file that says lang: zh gets its one message in Chinese
    (never a traceback), on an English terminal."""
    params = tmp_path / "p.yaml"
    params.write_bytes(content)
    result = CliRunner().invoke(app, ["check", "--params", str(params)],
                                env={"LC_ALL": None, "LC_MESSAGES": None, "LANGUAGE": None, "LANG": "en_US.UTF-8"})
    text = " ".join(result.output.split())
    assert result.exit_code != 0 and text.startswith("错误："), text
    assert "Traceback" not in text and isinstance(result.exception, (SystemExit, type(None))), text


def test_a_quoted_lang_override_and_languages_list_are_read_as_the_params_and_gettext_read_them(tmp_path):
    params = write_params(tmp_path, "en", lang="en")
    english = {"LC_ALL": None, "LC_MESSAGES": None, "LANGUAGE": None, "LANG": "en_US.UTF-8"}
    result = CliRunner().invoke(app, ["check", "--params", str(params), "--set", 'lang="zh"', "--set", "foo=1"],
                                env=english)
    assert " ".join(result.output.split()).startswith("错误：--set foo=1"), result.output
    missing = str(tmp_path / "none.yaml")
    said = CliRunner().invoke(app, ["check", "--params", missing], env={**english, "LANGUAGE": "zh_CN:en"}).output
    assert said.startswith("错误："), said
    said = CliRunner().invoke(app, ["check", "--params", missing],
                              env={**english, "LANG": "C", "LANGUAGE": "zh_CN:en"}).output
    assert said.startswith("error: "), said  # gettext: LANGUAGE counts only where a locale is set


ZH_TERMINAL = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
EN_TERMINAL = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_US.UTF-8"}


@pytest.mark.parametrize("args, said", [
    (["reprot"], "错误：没有命令 'reprot'。是否指 'report'"),
    (["report"], "错误：缺少选项 '--params' / '-p'。"),
    (["report", "--parms", "x.yaml"], "错误：没有选项 --parms（可能是：--params）"),
    (["export"], "错误：缺少参数 'RUN_FOLDER'。"),
    (["export", "reports/x", "--bogus"], "错误：没有选项 --bogus"),
    (["report", "-p", "x.yaml", "-m", "2025-09", "--month=2025-10"], "错误：选项 '--month' 给了 2 次（2025-09, 2025-10）"),
    (["report", "--params"], "错误：选项 '--params' 后面需要一个值。"),
])
def test_a_mistake_in_the_command_is_said_in_the_chinese_terminals_language(args, said):
    """Typer's usage errors (an unknown command or option, a missing --params) in a Chinese terminal:
    segkit's one Chinese line with the --help to read, through the script itself (Typer prints them
    before any command runs)."""
    done = run_segkit(*args, env=ZH_TERMINAL)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("错误："), done.stderr
    assert re.search(r"（用法见 `segkit( \w+)? --help`）$", done.stderr.strip()), done.stderr
    assert "Usage" not in done.stderr and "Error" not in done.stderr and "Traceback" not in done.stderr
    assert english_left(done.stderr) == [], done.stderr


def test_a_mistake_in_the_command_follows_the_params_file_it_names(tmp_path):
    """The language of a usage error is the params file's when the command names one (as its other
    errors), the terminal's otherwise: English stays Typer's own words."""
    zh = write_params(tmp_path, "zh", lang="zh")
    en = write_params(tmp_path, "en", lang="en")
    done = run_segkit("backfill", "--params", str(zh), env=EN_TERMINAL)
    assert done.returncode == 2 and "错误：缺少选项 '--from'。" in done.stderr, done.stderr
    done = run_segkit("backfill", "--params", str(en), env=ZH_TERMINAL)
    assert done.returncode == 2 and "Missing option '--from'." in done.stderr and "错误" not in done.stderr
    done = run_segkit("backfill", f"--params={en}", "--set", "lang=zh", env=EN_TERMINAL)
    assert "错误：缺少选项 '--from'。" in done.stderr, done.stderr
    done = run_segkit("backfill", f"-p{en}", "-slang=zh", env=EN_TERMINAL)  # Click's attached short forms
    assert "错误：缺少选项 '--from'。" in done.stderr, done.stderr
    run = tmp_path / "shop"
    run.mkdir()
    (run / "manifest.json").write_text('{"params": {"run_name": "shop", "lang": "zh"}}', encoding="utf-8")
    done = run_segkit("export", str(run), "--bogus", env=EN_TERMINAL)  # the run's language, as export's errors
    assert done.returncode == 2 and "错误：没有选项 --bogus" in done.stderr, done.stderr
    done = run_segkit("reprot", env=EN_TERMINAL)
    assert done.returncode == 2 and "No such command 'reprot'" in done.stderr and "错误" not in done.stderr


def test_an_interrupted_run_is_said_in_chinese():
    """Trial 42: Ctrl-C in a zh run said `错误：the run was interrupted while running notebook 01_cleaning；...`."""
    from pathlib import Path

    from segkit.report.runner import _failure_message

    for doing in ("running notebook 01_cleaning", "running notebooks 03_customer_value and 04_clustering",
                  "starting", "writing the HTML pages", "writing the index page", "writing the PDF",
                  "starting the process that writes the PDF", "writing the exports (exports/)", "writing the manifest",
                  "putting the report in place in /r/x"):
        said = terminal_text("error: " + _failure_message(KeyboardInterrupt(), doing, Path("/nowhere/x"), None), "zh")
        assert said.startswith("错误：运行被中断，当时正在") and english_left(said) == [], said
        failed = OSError(28, "No space left on device", "/r/x/report.pdf")
        said = terminal_text("error: " + _failure_message(failed, doing, Path("/nowhere/x"), None), "zh")
        assert said.startswith("错误：正在") and "磁盘已满" in said and english_left(said) == [], said


def test_segkit_run_in_a_finished_reports_data_folder_is_refused_in_chinese(tmp_path):
    """Trial 42: `segkit run 02_rfm --data-dir reports/<run>/data` on a zh run said its whole refusal in English."""
    params = write_params(tmp_path, "zh", lang="zh")
    (tmp_path / "run" / "data").mkdir(parents=True)
    (tmp_path / "run" / "manifest.json").write_text("{}", encoding="utf-8")
    done = run_segkit("run", "02_rfm", "--params", str(params), "--data-dir", str(tmp_path / "run" / "data"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"错误：{tmp_path / 'run' / 'data'} 中是已完成的报告"), done.stderr
    assert english_left(done.stderr) == [], done.stderr


@pytest.mark.parametrize("name", ["门店会员", "-shop", "shop!"])
def test_a_run_name_that_is_not_plain_ascii_says_so_in_both_languages(tmp_path, name):
    """Trial 42: `run_name: 门店会员` was refused in English with "a letter or digit, ...", and 门 is a
    letter to Unicode: the message says ASCII, and in Chinese under lang: zh. Run names stay ASCII:
    they name folders, lock files, the history's rows and a cron job's paths."""
    params = write_params(tmp_path, "zh", lang="zh")
    done = run_segkit("check", "--params", str(params), "--set", f"run_name={name}")
    assert done.returncode == 2 and done.stdout == ""
    assert "只能用 ASCII 字母（A-Z、a-z）、数字（0-9）和 '-'、'_'、'.'" in done.stderr, done.stderr
    assert english_left(done.stderr) == [], done.stderr
    english = run_segkit("check", "--params", str(params), "--set", f"run_name={name}", "--set", "lang=en")
    assert "run_name has the wrong form (ASCII letters A-Z and a-z, digits 0-9" in english.stderr, english.stderr
