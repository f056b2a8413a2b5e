"""Inference metrics and operations around a model served by AI.MODELEXECUTE:

  * per-model counters (HINCRBY) and a latency distribution (sorted set, p50/p95/p99 by rank),
    cross-checked against the module's own AI.INFO;
  * an audit trail of every inference's input and output in a capped stream (XADD MAXLEN ~);
  * an alert on a pub/sub channel when the error rate over the last WINDOW requests crosses
    a threshold;
  * per-user token-bucket rate limiting (requests and LLM tokens) in one Lua script, so the
    refill and the take are atomic even with many gateways.

Run against `make run`'s server:  python examples/inference_metrics.py   (redisai-py)
"""

import json
import os
import time

import numpy as np
import redis
import redisai
from onnx import TensorProto, helper

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
MODEL, IN, OUT = "metrics:double", "metrics:x", "metrics:y"
STATS, LAT, AUDIT = f"stats:{MODEL}", f"latency:{MODEL}", f"audit:{MODEL}"
WINDOW_KEY, ALERTS, AUDIT_MAXLEN = f"window:{MODEL}", "alerts", 100
WINDOW, THRESHOLD = 20, 0.25  # alert when over 25% of the last 20 requests failed

con = redisai.Client.from_url(URL)  # AI.* commands; tensors come back as numpy
r = redis.Redis.from_url(URL, decode_responses=True)  # everything else, as str
r.delete(STATS, LAT, AUDIT, WINDOW_KEY, f"alerted:{MODEL}")

# A tiny model made inline, y = 2 * x on FLOAT[1,4]. No try/except: if the ONNX runtime is
# missing, AI.MODELSTORE raises and the example fails loudly.
graph = helper.make_graph(
    [helper.make_node("Mul", ["x", "two"], ["y"])], "double",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
con.modelstore(MODEL, "ONNX", "CPU", model.SerializeToString())

alerts = r.pubsub(ignore_subscribe_messages=True)
alerts.subscribe(ALERTS)  # before any request, so no alert can be published unheard


def infer(x, input_key=IN):
    """Runs the model once and records it: counters, latency, audit entry, error window."""
    if x is not None:
        con.tensorset(input_key, x)
    t0 = time.perf_counter()  # latency as the caller sees it: run + fetching the output
    try:
        con.modelexecute(MODEL, [input_key], [OUT])
        y, error = con.tensorget(OUT), None
    except redis.ResponseError as e:
        y, error = None, str(e)
    ms = (time.perf_counter() - t0) * 1000
    seq = r.hincrby(STATS, "requests", 1)
    p = r.pipeline()  # one round trip (MULTI/EXEC) for all the bookkeeping
    p.hincrby(STATS, "errors" if error else "ok", 1)
    if not error:
        p.zadd(LAT, {str(seq): ms})  # member = request number, score = latency
    p.xadd(AUDIT, {"input": json.dumps(None if x is None else x.tolist()),
                   "output": error or json.dumps(y.tolist()), "ms": f"{ms:.3f}"},
           maxlen=AUDIT_MAXLEN, approximate=True)
    p.lpush(WINDOW_KEY, int(bool(error))).ltrim(WINDOW_KEY, 0, WINDOW - 1).lrange(WINDOW_KEY, 0, -1)
    window = [int(v) for v in p.execute()[-1]]
    rate = sum(window) / len(window)
    # SET NX makes the alert fire once per incident (until the key expires), not per request.
    if len(window) == WINDOW and rate > THRESHOLD and r.set(f"alerted:{MODEL}", 1, nx=True, ex=60):
        r.publish(ALERTS, json.dumps({"model": MODEL, "error_rate": rate, "window": WINDOW}))
    return y


# 1. Healthy traffic, then a bad deploy: every other request names an input that isn't there.
rng = np.random.default_rng(0)
for _ in range(200):
    x = rng.standard_normal((1, 4)).astype(np.float32)
    assert np.allclose(infer(x), 2 * x)
assert alerts.get_message(timeout=0.2) is None, "no alert while healthy"
for i in range(20):
    if i % 2:
        infer(rng.standard_normal((1, 4)).astype(np.float32))
    else:
        infer(None, "metrics:missing")
alert = alerts.get_message(timeout=2)
assert alert is not None, "error-rate alert not received"
print("alert   ", alert["data"])

# 2. The metrics table; our counts must agree with the module's AI.INFO.
stats = {k: int(v) for k, v in r.hgetall(STATS).items()}
n = r.zcard(LAT)


def percentile(q):
    """Nearest-rank percentile: the sorted set is ordered by latency, so it is one ZRANGE."""
    rank = max(0, -(-q * n // 100) - 1)  # ceil(q/100 * n) - 1
    return r.zrange(LAT, rank, rank, withscores=True)[0][1]


pct = {q: percentile(q) for q in (50, 95, 99)}
info = con.infoget(MODEL)
print(f"{'model':<16}{'requests':>9}{'ok':>6}{'errors':>7}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}")
print(f"{MODEL:<16}{stats['requests']:>9}{stats['ok']:>6}{stats['errors']:>7}"
      + "".join(f"{pct[q]:>8.3f}" for q in (50, 95, 99)))
print(f"AI.INFO  calls={info['calls']} errors={info['errors']} "
      f"avg run={info['duration'] / max(info['calls'], 1):.0f} us")
# A missing input key is refused before the model runs, so AI.INFO never sees those calls.
assert info["calls"] == stats["ok"] == n and stats["errors"] == 10

# 3. The audit trail is capped: `~` trims whole stream nodes, so it holds at least MAXLEN and
# less than one node (stream-node-max-entries) more -- never all 220 entries.
node = int(r.config_get("stream-node-max-entries")["stream-node-max-entries"])
newest = r.xrevrange(AUDIT, count=1)[0][1]
print(f"audit    {r.xlen(AUDIT)} entries kept of {stats['requests']};",
      f"newest output {newest['output'][:40]}...")
assert AUDIT_MAXLEN <= r.xlen(AUDIT) < AUDIT_MAXLEN + node

# 4. Token buckets per user: requests (capacity 5, 5 per second) and LLM tokens (capacity
# 1000, 500 per second). The script refills each by the time elapsed (server clock, TIME)
# and takes from both only if both have enough: all in one atomic step.
take = r.register_script("""
local now = redis.call('TIME'); now = now[1] + now[2] / 1e6
local left = {}
for i, key in ipairs(KEYS) do
  local cap, rate, cost = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  local b = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = math.min(cap, (tonumber(b[1]) or cap) + (now - (tonumber(b[2]) or now)) * rate)
  if tokens < cost then return {0, i} end  -- refused, by bucket i; nothing taken
  left[i] = tokens - cost
end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'tokens', left[i], 'ts', now)
  redis.call('EXPIRE', key, 60)
end
return {1, 0}
""")


def allow(user, llm_tokens):
    keys = [f"bucket:{user}:requests", f"bucket:{user}:tokens"]
    return take(keys=keys, args=[5, 5, 1, 1000, 500, llm_tokens])[0] == 1


r.delete("bucket:alice:requests", "bucket:alice:tokens", "bucket:bob:requests", "bucket:bob:tokens")
burst = [allow("alice", 10) for _ in range(8)]
print("alice burst of 8:", burst)
assert burst == [True] * 5 + [False] * 3, "a burst beyond the bucket must be refused"
assert allow("bob", 10), "buckets are per user"
assert allow("bob", 900) and not allow("bob", 900), "the LLM-token bucket limits too"
time.sleep(0.3)  # 0.3 s refills 1.5 requests
assert allow("alice", 10), "allowed again after the bucket refilled"
print("alice after 0.3 s: allowed; done")
