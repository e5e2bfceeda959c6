"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary folder.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the
``postgres`` user (``runuser``), in a folder that user owns. It listens on a unix socket
in that folder and on 127.0.0.1 at a free port; ``fsync`` is off by default (a test
database need not survive a power cut) so start-up and writes are fast.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER_USER = "postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_server_user(argv: list[str]) -> list[str]:
    """``argv`` run as ``postgres`` when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", SERVER_USER, "--", *argv]


def _run(argv: list[str], **kwargs) -> None:
    proc = subprocess.run(as_server_user(argv), capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def create_database(port: int, database: str) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
    ) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One server for the whole test session (each test cleans the tables it uses)."""
    with postgres_server() as url:
        yield url


@contextlib.contextmanager
def postgres_server(database: str = "predictions", *, fsync: bool = False) -> Iterator[str]:
    """Start a server, create ``database``; yield its SQLAlchemy URL; stop and delete it.

    ``fsync=True`` keeps PostgreSQL's durable commits (benchmarks); tests turn them off.
    """
    for tool in ("initdb", "pg_ctl"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not on PATH: install PostgreSQL 15 server binaries")
    root = Path(tempfile.mkdtemp(prefix="pgtest-"))
    if os.geteuid() == 0:
        shutil.chown(root, SERVER_USER)
    root.chmod(0o700)
    data, port = root / "data", free_port()
    try:
        _run(["initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"])
        options = f"-k {root} -h 127.0.0.1 -p {port} -c max_connections=100"
        options += "" if fsync else " -F"
        _run(["pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"])
        try:
            create_database(port, database)
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
        finally:
            _run(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
