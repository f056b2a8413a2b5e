"""Runs an example against a fresh server: `python run_example.py examples/x.py`.

The example reads REDIS_URL; it must exit 0. An example with the line
`# example-runner: cluster` gets a 3-master Redis Cluster instead (REDIS_CLUSTER=1). RedisJSON is loaded beside the module when
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
path = Path(sys.argv[1])
if path.suffix == ".py" and "# example-runner: cluster" in path.read_text():
    # A Redis Cluster example: three masters with the module (tests/search's harness).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))
    from cluster_harness import Cluster

    server = Cluster(masters=3, replicas=0)
    url = f"redis://127.0.0.1:{server.nodes[0].port}/0"
    cluster = {"REDIS_CLUSTER": "1"}
else:
    server = RedisServer(*(("--loadmodule", rejson) if rejson and Path(rejson).is_file() else ()))
    url = server.url
    cluster = {}
try:
    env = dict(os.environ, REDIS_URL=url, **cluster)
    if path.suffix == ".rs":
        cmd = [str(Path("target/release/examples") / path.stem)]
    else:
        cmd = [sys.executable, str(path)]
    result = subprocess.run(cmd, env=env)
finally:
    server.stop()
sys.exit(result.returncode)
