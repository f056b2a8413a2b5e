import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from redis_server import RedisServer  # noqa: E402


@pytest.fixture
def server():
    s = RedisServer()
    yield s
    s.stop()
