"""Text in, answers out: documents stored from text and questions asked in text, with nothing
on the client but redis-py. No tokenizer, no numpy, no ML package: the server tokenizes
(AI.MODELSTORE ... TOKENIZER), embeds (the ONNX all-MiniLM-L6-v2), pools and normalises
(AI.POOL), indexes (AI.HSET into an FT index) and searches (AI.FTSEARCH), each in one
AI.DAGEXECUTE.

Use it as the shape of a semantic cache or a RAG retriever that any Redis client can drive.
The model files come from `make deps-embed` (~/.cache/redisai/models; EMBED_MODEL_DIR
overrides); they are read once here only to be stored in Redis.
Run against `make run`'s server:  python examples/text_search.py
"""

import json
import os

import redis

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
MODEL_DIR = os.environ.get(
    "EMBED_MODEL_DIR", os.path.expanduser("~/.cache/redisai/models/all-minilm-l6-v2"))
# One hash tag: a DAG's keys live in one cluster slot.
TOK, MODEL, INDEX, PREFIX, DIM = "{kb}tok", "{kb}minilm", "kb", "{kb}doc:", 384

r = redis.Redis.from_url(URL)

# The tokenizer.json is the tokenizer's configuration: truncate at 256 tokens (as
# sentence-transformers does for this model) and pad a batch to its longest text only.
with open(os.path.join(MODEL_DIR, "tokenizer.json")) as f:
    tokenizer = json.load(f)
tokenizer["truncation"] = {"direction": "Right", "max_length": 256,
                           "strategy": "LongestFirst", "stride": 0}
tokenizer["padding"] = {"strategy": "BatchLongest", "direction": "Right",
                        "pad_to_multiple_of": None, "pad_id": 0, "pad_type_id": 0,
                        "pad_token": "[PAD]"}
r.execute_command("AI.MODELSTORE", TOK, "TOKENIZER", "CPU", "BLOB", json.dumps(tokenizer))
with open(os.path.join(MODEL_DIR, "model.onnx"), "rb") as f:
    r.execute_command("AI.MODELSTORE", MODEL, "ONNX", "CPU", "BLOB", f.read())


def embed(text):
    """The DAG ops that turn one text into a unit vector named `emb`."""
    return ["|>", "AI.TENSORSET", "text", "STRING", 1, "VALUES", text,
            "|>", "AI.MODELEXECUTE", TOK, "INPUTS", 1, "text",
            "OUTPUTS", 3, "ids", "mask", "types",
            "|>", "AI.MODELEXECUTE", MODEL, "INPUTS", 3, "ids", "mask", "types",
            "OUTPUTS", 1, "hidden",
            "|>", "AI.POOL", "MEAN", "NORMALIZE", "INPUTS", 2, "hidden", "mask",
            "OUTPUTS", 1, "emb"]


try:
    r.execute_command("FT.DROPINDEX", INDEX, "DD")
except redis.ResponseError:
    pass  # first run: no index yet
r.execute_command(
    "FT.CREATE", INDEX, "ON", "HASH", "PREFIX", 1, PREFIX, "SCHEMA",
    "text", "TEXT", "answer", "TEXT",
    "embedding", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE")


def store(key, text, answer):
    """One call: embed `text` and write it, with its fields, as an indexed hash."""
    r.execute_command("AI.DAGEXECUTE", "ROUTING", MODEL, *embed(text),
                      "|>", "AI.HSET", PREFIX + key, "VECTOR", "embedding", "emb",
                      "FIELDS", 4, "text", text, "answer", answer)


def ask(question, k=1):
    """One call: embed the question and run the KNN search with it."""
    out = r.execute_command(
        "AI.DAGEXECUTE_RO", "ROUTING", MODEL, *embed(question),
        "|>", "AI.FTSEARCH", INDEX, f"*=>[KNN {k} @embedding $v AS distance]",
        "VECTOR", "v", "emb", "SORTBY", "distance", "RETURN", 3, "text", "answer", "distance",
        "DIALECT", 2)
    result = out[-1]
    return [dict(zip(f[::2], f[1::2])) for f in result[2::2]]


store("paris", "What is the capital of France?", "Paris.")
store("reverse", "How do I reverse a list in Python?", "reversed(xs) or xs[::-1].")
store("redis", "What is Redis?", "An in-memory data structure server.")

for question, expected in [("Which city is France's capital?", "Paris."),
                           ("python: flip the order of a list", "reversed(xs) or xs[::-1]."),
                           ("tell me about the Redis database", "An in-memory data structure server.")]:
    best = ask(question)[0]
    distance = float(best[b"distance"])
    print(f"{distance:.3f}  {question!r} -> {best[b'answer'].decode()!r}"
          f"  (matched {best[b'text'].decode()!r})")
    assert best[b"answer"].decode() == expected and distance < 0.5
print("done")
