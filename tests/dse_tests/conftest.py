"""Shared helpers of the dse tests: a small, fast study spec on a GEMM workload."""

from __future__ import annotations

import copy

import pytest

# A study small enough to run in a second: synthetic tensors, two GEMMs (weight operands only,
# so every PE type runs it without a KV mode), an enumerable space of 2*2*2*2*2 = 32 designs.
SMALL_SPEC = {
    "version": 1,
    "name": "small",
    "seed": 0,
    "n_trials": 12,
    "sampler": {"name": "random"},
    "workload": {
        "gemms": [
            {"name": "proj", "m": 16, "n": 256, "k": 256},
            {"name": "mlp", "m": 16, "n": 512, "k": 256, "count": 2},
        ]
    },
    "accuracy": {"source": "synthetic", "n_tensors": 2, "tensor_rows": 16, "tensor_cols": 256},
    "space": {
        "pe_type": ["mant", "int8"],
        "group_size": [32, 64],
        "weight_format": ["mant-unicore16", "int{bits}"],
        "rows": [8, 16],
        "cols": [8, 16],
    },
    "objectives": [
        {"metric": "weight_rel_mse", "direction": "minimize"},
        {"metric": "latency_s", "direction": "minimize"},
        {"metric": "area_um2", "direction": "minimize"},
    ],
    "constraints": [{"metric": "weight_bits_per_element", "max": 6.0}],
}


@pytest.fixture
def small_spec_dict() -> dict:
    return copy.deepcopy(SMALL_SPEC)


@pytest.fixture
def small_spec(small_spec_dict):
    from dse.study.spec import parse_spec

    return parse_spec(small_spec_dict)


def _initdb() -> str:
    """The newest PostgreSQL ``initdb``: on PATH, else Debian's versioned folders."""
    import glob
    import shutil

    found = shutil.which("initdb")
    if found:
        return found
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found (Debian package postgresql)")
    return max(candidates, key=lambda p: [int(x) for x in p.split("/")[-3].split(".")])


def start_throwaway_postgres(listen: str = "127.0.0.1", hba: tuple[str, ...] = ()):
    """Starts a PostgreSQL server on loopback (or ``listen``) in a fresh temporary folder (what
    ``tests/pg_server.sh`` does, in Python). Returns ``(url, stop)``; ``stop()`` kills it and
    removes the folder.

    Args:
        listen: the one IPv4 address the server listens on (loopback unless a test gives another).
        hba: extra ``pg_hba.conf`` lines, e.g. ``("host all all 10.0.0.0/24 trust",)`` to let
            clients of another network (namespace) in; initdb's rules cover loopback only.
    """
    import os
    import shutil
    import socket
    import subprocess
    import tempfile
    from pathlib import Path

    bindir = Path(_initdb()).parent
    folder = Path(tempfile.mkdtemp(prefix="mant-dse-pg-"))
    run: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(folder, "postgres")
        run = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind((listen, 0))
        port = s.getsockname()[1]
    data = folder / "data"
    pg_ctl = str(bindir / "pg_ctl")

    def stop() -> None:
        try:
            if data.exists():
                subprocess.run(
                    [*run, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=60,
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        subprocess.run([*run, *initdb], stdout=subprocess.DEVNULL, check=True, timeout=120)
        if hba:
            with open(data / "pg_hba.conf", "a", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in hba))
        options = (
            f"-c listen_addresses={listen} -p {port} -k {folder} -c max_connections=200"
            " -c fsync=off"
        )
        log = str(folder / "server.log")
        start = [pg_ctl, "-D", str(data), "-l", log, "-w", "-o", options, "start"]
        subprocess.run([*run, *start], stdout=subprocess.DEVNULL, check=True, timeout=120)
    except BaseException:
        stop()
        raise

    return f"postgresql://postgres@{listen}:{port}/postgres", stop


@pytest.fixture(scope="session")
def pg_url():
    """A PostgreSQL URL: ``MANT_DSE_TEST_PG_URL`` (set by tests/run.sh), else a throwaway server
    started here for the session."""
    import os

    url = os.environ.get("MANT_DSE_TEST_PG_URL")
    if url:
        yield url
        return
    url, stop = start_throwaway_postgres()
    try:
        yield url
    finally:
        stop()
