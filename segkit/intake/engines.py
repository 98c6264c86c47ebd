"""What differs between the engines that run segkit's expressions (DuckDB, PostgreSQL, Spark).

The expressions are the same everywhere; only how a computed table is kept differs. DuckDB gets
the judged rows as a table in its own memory (segkit.intake.cleaning), a database is only read,
and Spark keeps a table that many later queries read in the cluster's memory, so that each query
does not recompute the window functions and joins behind it.
"""

from __future__ import annotations

import ibis


def is_spark(table: ibis.Table) -> bool:
    """Whether `table` lives in Spark (Ibis' PySpark backend)."""
    try:
        return table.get_backend().name == "pyspark"
    except Exception:  # an unbound table (a memtable) has no backend yet
        return False


def runs_in_duckdb(table: ibis.Table) -> bool:
    """Whether `table`'s queries run in DuckDB: a table of the embedded engine, or an unbound memtable
    (run where it is executed, DuckDB by default). False for PostgreSQL and Spark, whose SQL lacks
    some of DuckDB's functions (arg_min, BIGINT shifts) that faster paths use."""
    return getattr(table._find_backend(use_default=True), "name", None) == "duckdb"


def kept_for_reuse(table: ibis.Table) -> ibis.Table:
    """On Spark, `table` persisted in the cluster's memory (`Table.cache`, `DataFrame.persist`):
    it is computed once, at the first query that reads it, and later queries read the result
    (released when the returned table is garbage-collected). Elsewhere, `table` itself: DuckDB's
    judged rows are already a table, and a database is only read, never written."""
    return table.cache() if is_spark(table) else table


def drop_temporary(table: ibis.Table) -> None:
    """Drop a temporary table that segkit made in the embedded engine (`create_table(..., temp=True)`,
    under a name of its own): its memory is the engine's again. (Ibis' `drop_table` takes the
    qualified name `temp.main.<name>` as one identifier and leaves the table.)"""
    table.get_backend().raw_sql(f"DROP TABLE IF EXISTS {table.get_name()}")
