"""Stream inference pipeline with no consumer process: raw text XADDed to a stream comes out
scored in another stream. AI.PIPELINE registers the work once; the server reads new entries
with a consumer group as they arrive, runs tokenizer -> sentence encoder -> pooling -> a topic
scorer in batches on its worker queues, writes one result entry per event (with the event's id)
and XACKs the events after their results are written: at-least-once, across restarts.

Use it when inference should follow a flow of events (tickets, messages, headlines) and you do
not want to run, scale and babysit consumers. The model is all-MiniLM-L6-v2 (`make deps` puts
it in ~/.cache/redisai/models; EMBED_MODEL_DIR overrides). numpy and onnx only build the small
topic scorer once; the events themselves need nothing but XADD.
Run against `make run`'s server:  python examples/stream_pipeline.py
"""

import json
import os
import time

import numpy as np
import onnx
import redis
from onnx import TensorProto, helper, numpy_helper

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
MODEL_DIR = os.environ.get(
    "EMBED_MODEL_DIR", os.path.expanduser("~/.cache/redisai/models/all-minilm-l6-v2"))
# One hash tag: the streams and models share a cluster slot, so the pipeline runs on its shard.
EVENTS, RESULTS = "{tickets}events", "{tickets}scored"
TOKENIZER, ENCODER, SCORER = "{tickets}tokenizer", "{tickets}encoder", "{tickets}topics"
TOPICS = ["billing and payments", "login and password problems", "shipping and delivery"]
N_EVENTS, RATE = 120, 25  # events, sent at about RATE per second (the encoder's pace here)

r = redis.Redis.from_url(URL)
r.delete(EVENTS, RESULTS)
for p in r.execute_command("AI.PIPELINE", "LIST"):
    r.execute_command("AI.PIPELINE", "DEL", p)

with open(os.path.join(MODEL_DIR, "tokenizer.json")) as f:
    tok = json.load(f)
tok["truncation"] = {"direction": "Right", "max_length": 128, "strategy": "LongestFirst",
                     "stride": 0}
tok["padding"] = {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                  "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}
r.execute_command("AI.MODELSTORE", TOKENIZER, "TOKENIZER", "CPU", "BLOB", json.dumps(tok))
with open(os.path.join(MODEL_DIR, "model.onnx"), "rb") as f:
    r.execute_command("AI.MODELSTORE", ENCODER, "ONNX", "CPU", "BLOB", f.read())

EMBED = ["|>", "AI.MODELEXECUTE", TOKENIZER, "INPUTS", 1, "text", "OUTPUTS", 3, "ids", "mask", "t",
         "|>", "AI.MODELEXECUTE", ENCODER, "INPUTS", 3, "ids", "mask", "t", "OUTPUTS", 1, "h",
         "|>", "AI.POOL", "MEAN", "NORMALIZE", "INPUTS", 2, "h", "mask", "OUTPUTS", 1, "emb"]


def embed(texts):
    """Unit vectors computed by the server in one call (the non-stream path)."""
    out = r.execute_command("AI.DAGEXECUTE_RO", "ROUTING", ENCODER,
                            "|>", "AI.TENSORSET", "text", "STRING", len(texts), "VALUES", *texts,
                            *EMBED, "|>", "AI.TENSORGET", "emb", "BLOB")
    return np.frombuffer(out[-1], np.float32).reshape(len(texts), -1)


# The scorer: cosine similarity to each topic's embedding, one MatMul.
labels = embed(TOPICS)
graph = helper.make_graph(
    [helper.make_node("MatMul", ["emb", "labels"], ["scores"])], "topics",
    [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["N", labels.shape[1]])],
    [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", len(TOPICS)])],
    [numpy_helper.from_array(labels.T.copy(), "labels")])
scorer = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
scorer.ir_version = 8
r.execute_command("AI.MODELSTORE", SCORER, "ONNX", "CPU", "BLOB", scorer.SerializeToString())

# Registered once; from now on every XADD to EVENTS is scored by the server.
r.execute_command(
    "AI.PIPELINE", "ADD", "tickets", "STREAM", EVENTS, "FIELD", "text", "INPUT", "text", "STRING",
    "BATCH", 16, "MAXLATENCY", 5, "MAXINFLIGHT", 2,
    "OUTPUT", "STREAM", RESULTS, "OUTPUTS", 1, "scores",
    "DAG", *EMBED, "|>", "AI.MODELEXECUTE", SCORER, "INPUTS", 1, "emb", "OUTPUTS", 1, "scores")

SAMPLES = [
    ("I was charged twice on my credit card this month", 0),
    ("Please refund the duplicate payment on my invoice", 0),
    ("I cannot log in, the password reset email never arrives", 1),
    ("My account is locked after too many sign-in attempts", 1),
    ("The parcel has not arrived and tracking shows no update", 2),
    ("The courier delivered my package to the wrong address", 2),
]
ids, expected, texts = [], [], []
start = time.time()
for i in range(N_EVENTS):
    text, topic = SAMPLES[i % len(SAMPLES)]
    text = f"{text} (ticket {i})"
    ids.append(r.xadd(EVENTS, {"text": text, "sent": time.time()}))
    expected.append(topic)
    texts.append(text)
    time.sleep(max(0.0, start + (i + 1) / RATE - time.time()))  # a steady flow, not a burst
while r.xlen(RESULTS) < N_EVENTS and time.time() - start < 120:
    time.sleep(0.01)
elapsed = time.time() - start

# Every event scored once, as the one-call path scores it, on the right topic, acknowledged.
results = r.xrange(RESULTS)
assert len(results) == N_EVENTS, f"{len(results)} results for {N_EVENTS} events"
by_event = {f[b"id"]: (rid, f) for rid, f in results}
assert sorted(by_event) == sorted(ids), "an event was scored twice or not at all"
check = embed(texts[:12]) @ labels.T
for i, eid in enumerate(ids):
    scores = np.frombuffer(by_event[eid][1][b"scores"], np.float32)
    assert int(scores.argmax()) == expected[i], (texts[i], scores)
    if i < len(check):
        assert np.allclose(scores, check[i], atol=1e-5)
assert r.xpending(EVENTS, "ai-pipeline:tickets")["pending"] == 0
# End-to-end latency: from the client's XADD to the result entry's id (server clock, ms).
done_ms = np.array([int(by_event[eid][0].split(b"-")[0]) for eid in ids])
sent_ms = np.array([int(eid.split(b"-")[0]) for eid in ids])
latency = done_ms - sent_ms
info = r.execute_command("AI.PIPELINE", "INFO", "tickets")
info = dict(zip(info[::2], info[1::2]))
print(f"scored {N_EVENTS} events sent at ~{RATE}/s in {elapsed:.2f} s "
      f"({N_EVENTS / elapsed:,.0f} events/s) in {info[b'batches']} batches, no consumer process")
print("end-to-end latency ms: p50 %.0f  p99 %.0f" % tuple(np.percentile(latency, [50, 99])))
print(f"AI.PIPELINE INFO: processed {info[b'processed']}, failed {info[b'failed']}, "
      f"lag {info[b'lag']}, p50 {float(info[b'latency_p50_ms']):.0f} ms, "
      f"p99 {float(info[b'latency_p99_ms']):.0f} ms")
print("every ticket on its topic; scores equal the one-call path; nothing pending; done")
