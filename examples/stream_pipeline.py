"""Stream inference pipeline: events arrive on a Redis stream, a consumer group of workers
scores them in batches with one AI.DAGEXECUTE per batch (feature tensor -> model -> output,
nothing left behind in the keyspace), and the results go to an output stream.

Use it when inference should follow a flow of events (clicks, sensor readings, transactions)
with at-least-once delivery: a worker that dies leaves its entries pending for another.
Run against `make run`'s server:  python examples/stream_pipeline.py
"""

import os
import threading
import time

import numpy as np
import onnx
import redis
from onnx import TensorProto, helper, numpy_helper

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
EVENTS, RESULTS, GROUP, MODEL = "pipe:events", "pipe:results", "scorers", "pipe:model"
N_EVENTS, BATCH, WORKERS, FEATURES = 600, 32, 2, 4

# A tiny linear scorer, y = x @ W + b, with a dynamic batch dimension so a whole batch of
# events runs as one tensor.
rng = np.random.default_rng(3)
W = rng.standard_normal((FEATURES, 2)).astype(np.float32)
B = rng.standard_normal(2).astype(np.float32)
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
    "scorer",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    [numpy_helper.from_array(W, "w"), numpy_helper.from_array(B, "b")],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8

r = redis.Redis.from_url(URL)
r.delete(EVENTS, RESULTS)
r.execute_command("AI.MODELSTORE", MODEL, "ONNX", "CPU", "BLOB", model.SerializeToString())
r.xgroup_create(EVENTS, GROUP, id="0", mkstream=True)


def worker(name, done):
    con = redis.Redis.from_url(URL)
    while not done.is_set():
        batch = con.xreadgroup(GROUP, name, {EVENTS: ">"}, count=BATCH, block=100)
        if not batch:
            continue
        entries = batch[0][1]
        x = np.array([np.frombuffer(f[b"x"], dtype=np.float32) for _, f in entries])
        # One round trip: the features become a tensor local to the DAG, the model runs, the
        # output comes back; ROUTING names the model's key (its shard in a cluster).
        y = con.execute_command(
            "AI.DAGEXECUTE", "ROUTING", MODEL,
            "|>", "AI.TENSORSET", "x", "FLOAT", len(entries), FEATURES, "BLOB", x.tobytes(),
            "|>", "AI.MODELEXECUTE", MODEL, "INPUTS", 1, "x", "OUTPUTS", 1, "y",
            "|>", "AI.TENSORGET", "y", "BLOB",
        )[2]
        scores = np.frombuffer(y, dtype=np.float32).reshape(len(entries), 2)
        pipe = con.pipeline(transaction=True)  # results and acks land together
        for (eid, f), s in zip(entries, scores):
            pipe.xadd(RESULTS, {"event": eid, "sent": f[b"sent"], "done": time.time(),
                                "score": s.tobytes(), "worker": name})
        pipe.xack(EVENTS, GROUP, *[eid for eid, _ in entries])
        pipe.execute()


done = threading.Event()
threads = [threading.Thread(target=worker, args=(f"w{i}", done)) for i in range(WORKERS)]
for t in threads:
    t.start()

X = rng.standard_normal((N_EVENTS, FEATURES)).astype(np.float32)
ids = []
start = time.time()
for i in range(N_EVENTS):
    ids.append(r.xadd(EVENTS, {"x": X[i].tobytes(), "sent": time.time()}))
    if i % 50 == 49:
        time.sleep(0.005)  # events arrive over time, not all at once
while r.xlen(RESULTS) < N_EVENTS and time.time() - start < 30:
    time.sleep(0.01)
elapsed = time.time() - start
done.set()
for t in threads:
    t.join()

# Every event scored exactly once, correctly, and acknowledged.
results = r.xrange(RESULTS)
assert len(results) == N_EVENTS, f"{len(results)} results for {N_EVENTS} events"
by_event = {f[b"event"]: f for _, f in results}
assert sorted(by_event) == sorted(ids), "an event was scored twice or not at all"
for i, eid in enumerate(ids):
    got = np.frombuffer(by_event[eid][b"score"], dtype=np.float32)
    assert np.allclose(got, X[i] @ W + B, atol=1e-5)
assert r.xpending(EVENTS, GROUP)["pending"] == 0
latency = np.array([float(f[b"done"]) - float(f[b"sent"]) for f in by_event.values()]) * 1000
per_worker = {w: sum(1 for f in by_event.values() if f[b"worker"] == w)
              for w in {f[b"worker"] for f in by_event.values()}}
print(f"scored {N_EVENTS} events in {elapsed:.2f} s = {N_EVENTS / elapsed:,.0f} events/s "
      f"by {WORKERS} workers {dict(sorted((k.decode(), v) for k, v in per_worker.items()))}")
print("end-to-end latency ms: p50 %.1f  p95 %.1f  p99 %.1f" % tuple(np.percentile(latency, [50, 95, 99])))
print("all results match numpy; nothing pending in the group; done")
