"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl on a free local port in a temp dir.

The superuser `segkit` connects without a password (trust); other roles need theirs
(scram-sha-256), so that tests can check that a password travels only through the environment.
As root, the server runs as the `postgres` user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import IN_CI


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin folder; skipped without one (a failure in CI)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    found = [p for p in found if Path(p, "initdb").is_file()]
    if not found:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).parent
        message = "PostgreSQL is not installed (./run.sh test installs the postgresql package)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return Path(found[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    folder: Path
    port: int
    bin: Path
    as_user: list[str]

    def run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True, text=True,
                       timeout=60)

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="segkit", dbname=database, autocommit=True)

    def url(self, user: str = "segkit", database: str = "shop") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_server() -> Server:
    binaries = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="segkit-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    server = Server(folder, free_port(), binaries, as_user)
    data = folder / "data"
    server.run("initdb", "-D", str(data), "-U", "segkit", "--auth=trust", "--no-sync", "-E", "UTF8",
               "--locale=C.UTF-8")
    hba = ("local all all trust\nhost all segkit 127.0.0.1/32 trust\n"
           "host all all 127.0.0.1/32 scram-sha-256\n")
    subprocess.run([*as_user, "sh", "-c", f"printf '{hba}' > {data}/pg_hba.conf"], check=True)
    server.run("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o",
               f"-c listen_addresses=127.0.0.1 -p {server.port} -k {folder} -c fsync=off", "start")
    return server


def load_table(con, name: str, frame, types: dict[str, str]) -> None:
    """Create table `name` with the given column types and copy `frame` into it."""
    columns = ", ".join(f'"{c}" {t}' for c, t in types.items())
    con.execute(f'DROP TABLE IF EXISTS "{name}"')
    con.execute(f'CREATE TABLE "{name}" ({columns})')
    with con.cursor() as cur:
        with cur.copy(f'COPY "{name}" ({", ".join(chr(34) + c + chr(34) for c in types)}) FROM STDIN') as copy:
            for row in frame[list(types)].itertuples(index=False):
                copy.write_row([None if _missing(v) else v for v in row])


def _missing(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))  # None, NaN, NaT, pd.NA
