"""What `cleaning.customer_ids` costs: the ids read in the engine (setting on) and the note on ids that
would be one customer's (`ids_would_merge`, setting off), on the generated transactions.

    .venv/bin/python bench/customer_ids_cost.py --size 1M
    .venv/bin/python bench/customer_ids_cost.py --size 1M --ids text

`--ids numbers` (the default): the generated Parquet file as it is, whole-number ids, which no setting
changes (nothing is computed: the cost is nil). `--ids text`: the same rows with each id written as a
shop keyed by e-mail and phone writes them (tx-<size>-ids.parquet, written once beside it by DuckDB):
a third e-mail addresses (`User123@Shop.com`, on one row in ten in capitals), a third phone numbers spaced
(`138 0000 0123`, on one row in ten as `+86 138-0000-0123`), a third codes (`C000123`). `--ids codes`: every id a code (`C00000123`, tx-<size>-codes.parquet),
nothing to merge. Each run cleans the rows with the setting off and on (`clean_transactions`, the judged rows materialised as in a run), once each
in turn, `--repeat` times, and prints the median wall time of the cleaning and of the notes' queries
(`customer_ids_notes`, timed apart), with what the notes say.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from unittest import mock

DATA = Path(__file__).resolve().parent / ".data"


def text_ids_file(size: str, data: Path, out: Path, layout: str = "text") -> Path:
    import duckdb

    source, target = data / f"tx-{size}.parquet", out / f"tx-{size}-{'ids' if layout == 'text' else layout}.parquet"
    if layout == "codes" and not target.exists():
        duckdb.sql(f"COPY (SELECT * REPLACE ('C' || lpad(CAST(customer_id AS VARCHAR), 8, '0') AS customer_id) "
                   f"FROM read_parquet('{source}')) TO '{target}' (FORMAT parquet)")
    if not target.exists():
        duckdb.sql(f"""
            COPY (SELECT * REPLACE (CASE customer_id % 3
                WHEN 0 THEN (CASE WHEN hash(ordered_at) % 10 = 0 THEN 'USER' ELSE 'User' END) || customer_id || '@Shop.com'
                WHEN 1 THEN (CASE WHEN hash(ordered_at) % 10 = 1 THEN '+86 138-' || lpad(CAST(customer_id // 10000 AS VARCHAR), 4, '0')
                                      || '-' || lpad(CAST(customer_id % 10000 AS VARCHAR), 4, '0')
                                  ELSE '138 ' || lpad(CAST(customer_id // 10000 AS VARCHAR), 4, '0')
                                      || ' ' || lpad(CAST(customer_id % 10000 AS VARCHAR), 4, '0') END)
                ELSE 'C' || lpad(CAST(customer_id AS VARCHAR), 6, '0') END AS customer_id)
            FROM read_parquet('{source}')) TO '{target}' (FORMAT parquet)""")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1M")
    parser.add_argument("--ids", choices=("numbers", "text", "codes"), default="numbers")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA, help="the generated files (bench/generate.py)")
    parser.add_argument("--out", type=Path, default=None, help="where tx-<size>-ids.parquet goes (default: --data)")
    args = parser.parse_args()

    import segkit
    from segkit.intake import cleaning
    from segkit.params import Cleaning, FileTable, Source

    path = args.data / f"tx-{args.size}.parquet" if args.ids == "numbers" else \
        text_ids_file(args.size, args.data, args.out or args.data, args.ids)
    spent = []
    real = cleaning.customer_ids_notes

    def timed(*a, **k):
        tick = time.perf_counter()
        out = real(*a, **k)
        spent.append(time.perf_counter() - tick)
        return out

    settings = {"off": {}, "on": {"case": "fold", "phone": True, "phone_country_code": "86"}}
    times = {name: {"clean": [], "notes": []} for name in settings}
    notes = {}
    for _ in range(args.repeat):
        for name, setting in settings.items():
            intake = segkit.load_source(Source(kind="file", transactions=FileTable(path=str(path))))
            spent.clear()
            tick = time.perf_counter()
            with mock.patch.object(cleaning, "customer_ids_notes", timed):
                result = cleaning.clean_transactions(intake.engine, intake.transactions,
                                                     rules=Cleaning(customer_ids=setting))
                buyers = int(result.table.select("customer_id").distinct().count().to_pyarrow().as_py())
            times[name]["clean"].append(time.perf_counter() - tick)
            times[name]["notes"].append(sum(spent))
            notes[name] = ([n for n in result.notes if n["key"].startswith("ids_")], buyers)
            result.drop_tables()
    print(f"{path.name}, {args.repeat} runs each (median seconds)")
    for name in settings:
        print(f"  setting {name}: cleaning {statistics.median(times[name]['clean']):.2f} s, of which the ids' notes "
              f"{statistics.median(times[name]['notes']):.2f} s; {notes[name][1]:,} customers; {notes[name][0]}")


if __name__ == "__main__":
    main()
