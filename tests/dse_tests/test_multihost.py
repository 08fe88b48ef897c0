"""One study worked on from two hosts: a second "host" is a Linux network namespace (own network
stack, joined to this one by a veth pair, own host name through a UTS namespace) whose worker
reaches the PostgreSQL server only over that link, like a worker on another machine.

Needs root (CI runs as root) and iproute2's ``ip``; without them the test fails rather than
skips, since CI relies on it. Addresses are the private ``10.231.X.1`` (this side, where the
server listens) and ``10.231.X.2`` (inside the namespace), X random and unused on this machine.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time

import pytest
from optuna.trial import TrialState

from .conftest import start_throwaway_postgres
from .test_postgres import HERE, REPO, _finish, _key, _load, _spec_dict, _write_spec

pytestmark = pytest.mark.postgres

N_TRIALS = 16


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def _free_subnet() -> int:
    """A random X such that no address of this machine is in 10.231.X.0/24."""
    shown = subprocess.run(
        ["ip", "-o", "addr"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    used = {int(x) for x in re.findall(r"\b10\.231\.(\d+)\.", shown)}
    return random.choice([x for x in range(1, 255) if x not in used])


@pytest.fixture
def netns():
    """A network namespace joined by a veth pair: yields ``(name, host_ip, ns_ip)``; the
    namespace (and with it both veth ends) is deleted at teardown, whatever happened."""
    if os.geteuid() != 0:
        pytest.fail("test_multihost needs root to create a network namespace (CI runs as root)")
    if shutil.which("ip") is None:
        pytest.fail("test_multihost needs iproute2's `ip` (Debian package iproute2)")
    tag = secrets.token_hex(3)
    name, host_dev, ns_dev = f"mant-dse-{tag}", f"md{tag}h", f"md{tag}n"
    x = _free_subnet()
    host_ip, ns_ip = f"10.231.{x}.1", f"10.231.{x}.2"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_dev, "type", "veth", "peer", "name", ns_dev, "netns", name)
        _ip("addr", "add", f"{host_ip}/24", "dev", host_dev)
        _ip("link", "set", host_dev, "up")
        _ip("-n", name, "addr", "add", f"{ns_ip}/24", "dev", ns_dev)
        _ip("-n", name, "link", "set", ns_dev, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield name, host_ip, ns_ip
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        # normally gone with the namespace; left only if the namespace never got its end
        subprocess.run(["ip", "link", "del", host_dev], capture_output=True, timeout=30)


def _worker_cmd(spec_path, url, out):
    """``mant-dse worker`` through test_postgres.py's ``__main__`` (the CLI plus the test
    accuracy source ``pgtest``, whose barrier makes both workers start before either finishes)."""
    cmd = [sys.executable, str(HERE), "worker", str(spec_path), "--storage", url]
    return [*cmd, "--out", str(out), "--heartbeat", "1", "--grace", "5"]


def _client_addrs(url, procs):
    """The addresses of the server's other clients, polled until the workers exit (their pooled
    connections stay open while they run); the host-side ``psycopg2`` connection of this test is
    not counted."""
    import psycopg2

    seen: set[str] = set()
    deadline = time.monotonic() + 30
    # no `with conn:` (it opens a transaction, whose statistics snapshot would never change)
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            while time.monotonic() < deadline and any(p.poll() is None for p in procs):
                cur.execute(
                    "SELECT DISTINCT host(client_addr) FROM pg_stat_activity"
                    " WHERE client_addr IS NOT NULL AND pid <> pg_backend_pid()"
                )
                seen.update(row[0] for row in cur.fetchall())
                time.sleep(0.05)
    finally:
        conn.close()
    return seen


def test_two_hosts_share_one_study_over_the_network(netns, tmp_path, small_spec_dict):
    ns, host_ip, ns_ip = netns
    subnet = host_ip.rsplit(".", 1)[0] + ".0/24"
    url, stop = start_throwaway_postgres(listen=host_ip, hba=(f"host all all {subnet} trust",))
    procs = []
    try:
        data = _spec_dict(small_spec_dict, n_trials=N_TRIALS)
        path = _write_spec(data, tmp_path)
        calls = tmp_path / "calls"
        calls.mkdir()
        env = {
            **os.environ,
            "MANT_DSE_TEST_DELAY_S": "0.1",
            "MANT_DSE_TEST_BARRIER": str(tmp_path / "barrier"),
            "MANT_DSE_TEST_BARRIER_N": "2",
            "MANT_DSE_TEST_CALL_LOG": str(calls),
        }
        ns_host = f"{ns}-host"
        # each link of the chain execs the next, so the Popen pid is the worker's pid
        in_ns = ["ip", "netns", "exec", ns, "unshare", "--uts", "--"]
        in_ns += ["sh", "-c", 'hostname "$0" && exec "$@"', ns_host]
        for prefix, out in ((in_ns, "out-ns"), ([], "out-host")):
            procs.append(
                subprocess.Popen(
                    [*prefix, *_worker_cmd(path, url, tmp_path / out)],
                    env=env,
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        clients = _client_addrs(url, procs)
        results = _finish(procs, timeout_s=30)
        assert [code for code, _, _ in results] == [0, 0], results
        # the namespace worker reached the server over the veth link, from its own address
        assert clients == {ns_ip, host_ip}, clients

        study = _load(url, data["name"])
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        assert sorted(t.number for t in trials) == list(range(len(trials)))  # unique, no gaps
        # the budget; two workers counting at the same moment may add one (docs/scale-out.md)
        assert N_TRIALS <= len(complete) <= N_TRIALS + 1 and len(complete) == len(trials)
        keys = [_key(t.params) for t in complete]
        assert len(keys) == len(set(keys))  # the grid: every trial a different design

        # both hosts worked: trials per worker (its own count) and per host name and pid
        ran = [int(out.split("this worker ran ")[1].split()[0]) for _, out, _ in results]
        assert sum(ran) == len(trials) and all(n > 0 for n in ran), ran
        here = socket.gethostname()
        expected = {f"{ns_host}:{procs[0].pid}": ran[0], f"{here}:{procs[1].pid}": ran[1]}
        logged = {f.name: len(f.read_text().splitlines()) for f in calls.iterdir()}
        assert logged == expected, (logged, expected)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
        stop()
