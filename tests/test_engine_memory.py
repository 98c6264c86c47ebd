"""The embedded engine's memory cap (SEGKIT_ENGINE_MEMORY, opt-in): large joins and sorts spill to
disk instead of growing the process."""

import pytest

from segkit.errors import DataError
from segkit.intake.sources import connect


def setting(con, name: str) -> str:
    return con.raw_sql(f"SELECT current_setting('{name}')").fetchone()[0]


def test_the_environment_caps_the_engine(monkeypatch, tmp_path):
    monkeypatch.delenv("SEGKIT_ENGINE_MEMORY", raising=False)
    uncapped = setting(connect(), "memory_limit")
    monkeypatch.setenv("SEGKIT_ENGINE_MEMORY", "256MB")
    capped = connect()
    assert setting(capped, "memory_limit").replace(" ", "") in ("244.1MiB", "256.0MB")
    assert setting(capped, "memory_limit") != uncapped
    assert "segkit-engine" in setting(capped, "temp_directory")


def test_a_join_larger_than_the_cap_spills_and_finishes(monkeypatch):
    monkeypatch.setenv("SEGKIT_ENGINE_MEMORY", "64MB")
    con = connect()
    rows = con.raw_sql("SELECT count(*) FROM range(3000000) a JOIN (SELECT range AS b FROM range(3000000)) "
                       "ON a.range = b").fetchone()[0]
    assert rows == 3_000_000


def test_a_size_duckdb_cannot_read_is_one_clear_message(monkeypatch):
    monkeypatch.setenv("SEGKIT_ENGINE_MEMORY", "lots")
    with pytest.raises(DataError, match=r"SEGKIT_ENGINE_MEMORY='lots' is not a memory size DuckDB reads"):
        connect()
