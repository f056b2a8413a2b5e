"""Semantic LLM cache: a prompt that means the same as one answered before gets the stored
answer, even when worded differently. The server does all of it: a tokenizer and a
sentence-embedding model stored in Redis (AI.MODELSTORE TOKENIZER and ONNX) turn the prompt
into a vector (AI.POOL), one AI.DAGEXECUTE stores an answer into the FT index (AI.HSET) and one
looks a prompt up (AI.FTSEARCH KNN with a distance threshold). The client has only redis-py.

Use it in front of an LLM when users ask the same things in different words; keep an exact cache
(llm_cache.py) in front of it for the cheapest hits.
The model is all-MiniLM-L6-v2 (`make deps` puts its model.onnx and tokenizer.json in
~/.cache/redisai/models; EMBED_MODEL_DIR overrides), read here only to be stored in Redis.
Run against `make run`'s server:  python examples/semantic_cache.py   (REDIS_CLUSTER=1 when
REDIS_URL names a node of a Redis Cluster)
"""

import json
import os
from array import array

import redis
import redis.cluster

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
MODEL_DIR = os.environ.get(
    "EMBED_MODEL_DIR", os.path.expanduser("~/.cache/redisai/models/all-minilm-l6-v2"))
# One hash tag: every key a DAG touches is in one cluster slot.
TOKENIZER, MODEL = "{semcache}tokenizer", "{semcache}embedder"
INDEX, PREFIX, DIM = "semcache", "{semcache}entry:", 384
THRESHOLD = 0.25  # cosine distance: below it, two prompts count as the same question

# REDIS_CLUSTER=1: URL names a node of a Redis Cluster. The keys share one hash tag, so each
# DAG runs on that tag's master; FT.* searches answer for the whole cluster from any node.
r = (redis.cluster.RedisCluster if os.environ.get("REDIS_CLUSTER") else redis.Redis).from_url(URL)

if not r.exists(MODEL):
    # The tokenizer.json configures the tokenizer: truncate at 256 tokens, pad a batch only to
    # its longest prompt (the file as published pads everything to 128).
    with open(os.path.join(MODEL_DIR, "tokenizer.json")) as f:
        tok = json.load(f)
    tok["truncation"] = {"direction": "Right", "max_length": 256, "strategy": "LongestFirst",
                         "stride": 0}
    tok["padding"] = {"strategy": "BatchLongest", "direction": "Right",
                      "pad_to_multiple_of": None, "pad_id": 0, "pad_type_id": 0,
                      "pad_token": "[PAD]"}
    r.execute_command("AI.MODELSTORE", TOKENIZER, "TOKENIZER", "CPU", "BLOB", json.dumps(tok))
    with open(os.path.join(MODEL_DIR, "model.onnx"), "rb") as f:
        r.execute_command("AI.MODELSTORE", MODEL, "ONNX", "CPU", "BLOB", f.read())


def embed_ops(texts):
    """DAG ops: texts in, one unit vector per text out, named `emb` (mean pooling over the real
    tokens and normalisation: the sentence-transformers recipe, in the server)."""
    return ["|>", "AI.TENSORSET", "text", "STRING", len(texts), "VALUES", *texts,
            "|>", "AI.MODELEXECUTE", TOKENIZER, "INPUTS", 1, "text",
            "OUTPUTS", 3, "ids", "mask", "types",
            "|>", "AI.MODELEXECUTE", MODEL, "INPUTS", 3, "ids", "mask", "types",
            "OUTPUTS", 1, "hidden",
            "|>", "AI.POOL", "MEAN", "NORMALIZE", "INPUTS", 2, "hidden", "mask",
            "OUTPUTS", 1, "emb"]


def embed(texts):
    """The vectors themselves, as lists of floats."""
    out = r.execute_command("AI.DAGEXECUTE_RO", "ROUTING", MODEL, *embed_ops(texts),
                            "|>", "AI.TENSORGET", "emb", "BLOB")
    flat = array("f", out[-1])
    return [flat[i * DIM:(i + 1) * DIM] for i in range(len(texts))]


try:
    r.execute_command("FT.DROPINDEX", INDEX, "DD")
except redis.ResponseError:
    pass  # first run: no index yet
r.execute_command(
    "FT.CREATE", INDEX, "ON", "HASH", "PREFIX", 1, PREFIX, "SCHEMA",
    "prompt", "TEXT", "response", "TEXT",
    "embedding", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE")


def store(prompt, response):
    """One call embeds the prompt and writes the entry into the index; then a TTL."""
    key = PREFIX + str(r.incr("{semcache}next"))
    r.execute_command("AI.DAGEXECUTE", "ROUTING", MODEL, *embed_ops([prompt]),
                      "|>", "AI.HSET", key, "VECTOR", "embedding", "emb",
                      "FIELDS", 4, "prompt", prompt, "response", response)
    r.expire(key, 3600)


def lookup(prompt):
    """The closest cached prompt, its answer and distance; a miss above the threshold. One
    call: the prompt's vector never leaves the server."""
    out = r.execute_command(
        "AI.DAGEXECUTE_RO", "ROUTING", MODEL, *embed_ops([prompt]),
        "|>", "AI.FTSEARCH", INDEX, "*=>[KNN 1 @embedding $v AS distance]", "VECTOR", "v", "emb",
        "RETURN", 3, "prompt", "response", "distance", "SORTBY", "distance", "DIALECT", 2)
    res = out[-1]
    if res[0] == 0:
        return None, None, None
    fields = dict(zip(res[2][::2], res[2][1::2]))
    distance = float(fields[b"distance"])
    hit = fields[b"response"].decode() if distance < THRESHOLD else None
    return hit, fields[b"prompt"].decode(), distance


store("What is the capital of France?", "Paris is the capital of France.")
store("How do I reverse a list in Python?", "Use reversed(xs) or xs[::-1].")

cases = [
    ("Which city is the capital of France?", True),
    ("what's the best way to reverse a python list", True),
    ("How do I bake sourdough bread at home?", False),
]
for prompt, should_hit in cases:
    hit, nearest, distance = lookup(prompt)
    print(f"{'HIT ' if hit else 'miss'} {distance:.3f}  {prompt!r}  (nearest: {nearest!r})")
    assert (hit is not None) == should_hit, f"{prompt!r}: distance {distance:.3f}"

# Paraphrases land close, an unrelated prompt far: the same model that runs in Redis embeds both.
a, b, c = embed(["What is the capital of France?", "Which city is the capital of France?",
                 "How do I bake sourdough bread at home?"])


def dot(x, y):
    return sum(p * q for p, q in zip(x, y))


assert 1 - dot(a, b) < THRESHOLD < 1 - dot(a, c)
print("done")
