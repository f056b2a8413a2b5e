"""The vector-search tests and the vector bench start their servers like the other Python tests:
this re-exports tests/python/redis_server.py (the two suites run in different venvs, so it is
imported by path rather than as a package)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from redis_server import RedisServer, free_port  # noqa: E402,F401
