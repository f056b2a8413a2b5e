"""Semantic LLM cache: a prompt that means the same as one answered before gets the stored
answer, even when worded differently. Prompts are embedded by a sentence-embedding model stored
in Redis (AI.MODELSTORE ONNX, run with AI.DAGEXECUTE) and looked up with FT.SEARCH KNN and a
distance threshold.

Use it in front of an LLM when users ask the same things in different words; keep an exact cache
(llm_cache.py) in front of it for the cheapest hits.
The model is all-MiniLM-L6-v2 (`make deps` puts it in ~/.cache/redisai/models; EMBED_MODEL_DIR
overrides); tokenization runs on the client with `tokenizers`.
Run against `make run`'s server:  python examples/semantic_cache.py
"""

import os

import numpy as np
import redis
from tokenizers import Tokenizer

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
MODEL_DIR = os.environ.get(
    "EMBED_MODEL_DIR", os.path.expanduser("~/.cache/redisai/models/all-minilm-l6-v2"))
MODEL, INDEX, PREFIX, DIM = "semcache:embedder", "semcache", "semcache:entry:", 384
THRESHOLD = 0.25  # cosine distance: below it, two prompts count as the same question

r = redis.Redis.from_url(URL)
tokenizer = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
tokenizer.enable_truncation(256)
tokenizer.enable_padding()  # pad a batch to its longest prompt, not to a fixed length

if not r.exists(MODEL):
    with open(os.path.join(MODEL_DIR, "model.onnx"), "rb") as f:
        r.execute_command("AI.MODELSTORE", MODEL, "ONNX", "CPU", "BLOB", f.read())


def embed(texts):
    """Token ids in, one unit vector per text out. The model runs in Redis; mean pooling over
    the real (unpadded) tokens and normalisation are the sentence-transformers recipe."""
    enc = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    b, s = ids.shape
    out = r.execute_command(
        "AI.DAGEXECUTE", "ROUTING", MODEL,
        "|>", "AI.TENSORSET", "ids", "INT64", b, s, "BLOB", ids.tobytes(),
        "|>", "AI.TENSORSET", "mask", "INT64", b, s, "BLOB", mask.tobytes(),
        "|>", "AI.TENSORSET", "types", "INT64", b, s, "BLOB", np.zeros_like(ids).tobytes(),
        "|>", "AI.MODELEXECUTE", MODEL, "INPUTS", 3, "ids", "mask", "types", "OUTPUTS", 1, "h",
        "|>", "AI.TENSORGET", "h", "BLOB")
    h = np.frombuffer(out[-1], dtype=np.float32).reshape(b, s, DIM)
    v = (h * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


try:
    r.execute_command("FT.DROPINDEX", INDEX, "DD")
except redis.ResponseError:
    pass  # first run: no index yet
r.execute_command(
    "FT.CREATE", INDEX, "ON", "HASH", "PREFIX", 1, PREFIX, "SCHEMA",
    "prompt", "TEXT", "response", "TEXT",
    "embedding", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE")


def store(prompt, response):
    key = PREFIX + str(r.incr("semcache:next"))
    r.hset(key, mapping={"prompt": prompt, "response": response,
                         "embedding": embed([prompt])[0].tobytes()})
    r.expire(key, 3600)


def lookup(prompt):
    """The closest cached prompt, its answer and distance; a miss above the threshold."""
    res = r.execute_command(
        "FT.SEARCH", INDEX, "*=>[KNN 1 @embedding $v AS distance]",
        "RETURN", 3, "prompt", "response", "distance", "SORTBY", "distance",
        "DIALECT", 2, "PARAMS", 2, "v", embed([prompt])[0].tobytes())
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
assert 1 - a @ b < THRESHOLD < 1 - a @ c
print("done")
