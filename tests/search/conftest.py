import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from search_server import RedisServer  # noqa: E402


def _start(server_args=()):
    return RedisServer(server_args=server_args)


def _stop(s):
    crashed = not s.alive()
    log = s.log() if crashed else ""
    s.stop()
    if crashed:
        tail = "\n".join(log.splitlines()[-60:])
        pytest.fail(f"redis-server died during the test (crash in the module?); log tail:\n{tail}")


@pytest.fixture
def server():
    """A fresh redis-server with the module for each test (DEBUG allowed, for DEBUG RELOAD)."""
    s = _start(("--enable-debug-command", "yes"))
    yield s
    _stop(s)


@pytest.fixture(scope="module")
def module_server():
    """One server for a whole test module (the recall tests load 10k vectors once)."""
    s = _start()
    yield s
    _stop(s)


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol(request):
    return request.param
