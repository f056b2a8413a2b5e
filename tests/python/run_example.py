"""Runs an example against a fresh server: `python run_example.py examples/x.py`.

The example reads REDIS_URL; it must exit 0. RedisJSON is loaded beside the module when
REDISAI_REJSON names its rejson.so. Its output is shown. A Rust example
(`examples/x.rs`) runs as its release build, target/release/examples/x (cargo builds the
root crate's examples with the workspace).
"""

import os
import subprocess
import sys
from pathlib import Path

from redis_server import RedisServer

# RedisJSON beside the module when the Makefile fetched it (examples/agent_memory_json.py).
rejson = os.environ.get("REDISAI_REJSON", "")
server = RedisServer(*(("--loadmodule", rejson) if rejson and Path(rejson).is_file() else ()))
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
