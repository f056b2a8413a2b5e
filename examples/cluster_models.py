"""One model on every shard of a Redis Cluster, run next to the data. A model is a key: it
lives on the master of its slot, and another master cannot see it (its clients get MOVED). To
serve the data of every slot, store one copy per master, each under a hash tag that falls in
that master's slots, and run the copy of the master that holds the input: the inference load
spreads over the masters, and the input never leaves its shard.

redisai-py's Client subclasses redis.Redis; `ai_cluster` below gives its AI.* methods to
redis-py's RedisCluster, which routes each command by its key and follows MOVED / ASK.

Runs on a cluster (REDIS_CLUSTER=1, REDIS_URL naming any node; `make examples` starts one) and
on one server (one "shard").   python examples/cluster_models.py
"""

# example-runner: cluster
import itertools
import os

import numpy as np
import onnx
import redis
import redisai
from onnx import TensorProto, helper
from redis.cluster import RedisCluster

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
CLUSTER = bool(os.environ.get("REDIS_CLUSTER"))


def ai_cluster(url):
    """A RedisCluster with redisai-py's AI.* methods (tensorset, modelstore, dag, ...). Its
    pipelines stay redis-py's: redisai-py's own pipeline is a single-server one."""
    methods = {name: fn for name, fn in vars(redisai.Client).items()
               if callable(fn) and not name.startswith("_") and name != "pipeline"}

    def config(self, name, value=None):
        # AI.CONFIG names no key: a GET asks any master, a SET every master.
        args = ["AI.CONFIG", "GET", name] if value is None else ["AI.CONFIG", name, value]
        target = RedisCluster.RANDOM if value is None else RedisCluster.ALL_PRIMARIES
        res = RedisCluster.execute_command(self, *args, target_nodes=target)
        if isinstance(res, dict):  # ALL_PRIMARIES: one answer per master
            res = next(iter(res.values()))
        return res.decode() if isinstance(res, bytes) else res

    cls = type("AICluster", (RedisCluster,),
               {**methods, "config": config, "enable_postprocess": True})
    return cls.from_url(url)


def shard_tags(con):
    """A hash tag per master, each in a slot that master serves: {master name: tag}."""
    if not CLUSTER:
        return {"server": "shard-0"}
    masters = {n.name for n in con.get_primaries()}
    tags = {}
    for i in itertools.count():
        tag = f"shard-{i}"
        owner = con.get_node_from_key("{" + tag + "}").name
        tags.setdefault(owner, tag)
        if len(tags) == len(masters):
            return tags


def owner(con, key):
    return con.get_node_from_key(key).name if CLUSTER else "server"


def scale_model():
    """y = x * 2 + 1 on float32 rows of 4 (an ONNX graph built here, no file needed)."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["t"]), helper.make_node("Add", ["t", "one"], ["y"])],
        "scale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
         helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


con = ai_cluster(URL) if CLUSTER else redisai.Client.from_url(URL)
tags = shard_tags(con)
blob = scale_model()
for master, tag in sorted(tags.items()):
    con.modelstore(f"{{{tag}}}:scale", "onnx", "cpu", blob)
print(f"{len(tags)} shard(s), one model copy each:", sorted(tags.values()))


def run_near(con, key):
    """Runs the model on the tensor at `key`, on the master that holds it: the copy whose tag
    is in that master's slots. A DAG's keys must share one slot, so the input is read there
    and handed to the copy's DAG inline (two commands, both to the same master)."""
    x = con.tensorget(key)
    model = f"{{{tags[owner(con, key)]}}}:scale"
    dag = con.dag(routing=model, readonly=True)
    dag.tensorset("x", x).modelexecute(model, inputs=["x"], outputs=["y"]).tensorget("y")
    return dag.execute()[-1]


rng = np.random.default_rng(0)
served = {}
for user in range(12):
    key = f"{{user:{user}}}:features"
    x = rng.random((1, 4), dtype=np.float32)
    con.tensorset(key, x)
    y = run_near(con, key)
    assert np.allclose(y, x * 2 + 1), (y, x)
    served[tags[owner(con, key)]] = served.get(tags[owner(con, key)], 0) + 1
print("inputs served per model copy:", dict(sorted(served.items())))

if CLUSTER:
    # A copy is visible on its own master only: another master redirects the client.
    tag, other = sorted(tags.values())[0], None
    for node in con.get_primaries():
        if tags[node.name] != tag:
            other = redis.Redis(host=node.host, port=node.port)
            break
    try:
        other.execute_command("AI.MODELGET", f"{{{tag}}}:scale", "META")
        raise AssertionError("a model was visible on another master")
    except redis.exceptions.ResponseError as e:
        print("another master answers:", str(e).split(" ")[0], "(the model is not there)")
print("done")
