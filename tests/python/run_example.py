"""Runs an example against a fresh server: `python run_example.py examples/x.py`.

The example reads REDIS_URL; it must exit 0. Its output is shown. A Rust example
(`examples/x.rs`) runs as its release build, target/release/examples/x (cargo builds the
root crate's examples with the workspace).
"""

import os
import subprocess
import sys
from pathlib import Path

from redis_server import RedisServer

server = RedisServer()
try:
    env = dict(os.environ, REDIS_URL=server.url)
    path = Path(sys.argv[1])
    if path.suffix == ".rs":
        cmd = [str(Path("target/release/examples") / path.stem)]
    else:
        cmd = [sys.executable, str(path)]
    result = subprocess.run(cmd, env=env)
finally:
    server.stop()
sys.exit(result.returncode)
