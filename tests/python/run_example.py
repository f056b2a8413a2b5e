"""Runs an example against a fresh server: `python run_example.py examples/x.py`.

The example reads REDIS_URL; it must exit 0. Its output is shown.
"""

import os
import subprocess
import sys

from redis_server import RedisServer

server = RedisServer()
try:
    env = dict(os.environ, REDIS_URL=server.url)
    result = subprocess.run([sys.executable, sys.argv[1]], env=env)
finally:
    server.stop()
sys.exit(result.returncode)
