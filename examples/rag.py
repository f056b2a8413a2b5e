"""RAG with prompt templates: answer questions from your own documents, with citations.
Chunks of the documents are embedded in Redis by a stored model (AI.MODELSTORE ONNX, run with
AI.DAGEXECUTE, tokenized on the client as in semantic_cache.py) and indexed with FT.CREATE HNSW;
a question fetches its nearest chunks with FT.SEARCH KNN, and a prompt template kept in Redis,
versioned in a hash (v1, v2, `current`), turns them into the prompt. Token ids are cached by a
hash of the text with a TTL, so text embedded again is not re-tokenized.

Use it when an LLM must answer from data it was not trained on; a prompt change or rollback is
one HSET, no deploy. With OPENAI_BASE_URL set (OPENAI_API_KEY, RAG_LLM_MODEL as needed) the LLM is
<base>/chat/completions; without, a labelled local stand-in cites the nearest passage (no network).
Run against `make run`'s server:  python examples/rag.py   (EMBED_MODEL_DIR as in semantic_cache)
"""

import hashlib
import json
import os
import re
import urllib.request

import numpy as np
import redis
from tokenizers import Tokenizer

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
MODEL_DIR = os.environ.get(
    "EMBED_MODEL_DIR", os.path.expanduser("~/.cache/redisai/models/all-minilm-l6-v2"))
MODEL, INDEX, PREFIX, DIM = "rag:embedder", "rag", "rag:chunk:", 384
TEMPLATE, TOK_TTL_S = "rag:template:answer", 86400

r = redis.Redis.from_url(URL)
tokenizer = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
tokenizer.enable_truncation(256)
tokenizer.no_padding()  # each text's own ids are cached; a batch is padded below
if not r.exists(MODEL):
    with open(os.path.join(MODEL_DIR, "model.onnx"), "rb") as f:
        r.execute_command("AI.MODELSTORE", MODEL, "ONNX", "CPU", "BLOB", f.read())

tok_stats = {"hit": 0, "miss": 0}


def token_ids(texts):
    """Token ids per text from rag:tok:<sha256(text)>; misses are tokenized and cached with a
    TTL. (Key by tokenizer too if you ever change it: a new prefix invalidates everything.)"""
    keys = ["rag:tok:" + hashlib.sha256(t.encode()).hexdigest() for t in texts]
    out, p = [], r.pipeline(transaction=False)
    for text, key, blob in zip(texts, keys, r.mget(keys)):
        tok_stats["hit" if blob else "miss"] += 1
        if blob is None:
            blob = np.array(tokenizer.encode(text).ids, dtype=np.int64).tobytes()
            p.set(key, blob, ex=TOK_TTL_S)
        out.append(np.frombuffer(blob, dtype=np.int64))
    p.execute()
    return out


def embed(texts):
    """One unit vector per text: the model runs in Redis, mean pooling over the real tokens and
    normalisation on the client (the sentence-transformers recipe, as in semantic_cache.py)."""
    seqs = token_ids(texts)
    b, s = len(seqs), max(len(x) for x in seqs)
    ids, mask = np.zeros((b, s), dtype=np.int64), np.zeros((b, s), dtype=np.int64)
    for i, x in enumerate(seqs):  # pad id 0 is [PAD]; the mask hides it from attention
        ids[i, :len(x)], mask[i, :len(x)] = x, 1
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


DOCS = {  # doc id -> text: six short documents on distinct topics
    "redis-persistence": "Redis keeps its data in memory. RDB saves point-in-time snapshots to"
    " disk. The append-only file logs every write, so a restart loses at most a second of it.",
    "hnsw": "HNSW is a graph index for approximate nearest neighbour search. It stacks proximity"
    " graphs, sparse on top and dense below. M and EF_RUNTIME trade recall for speed.",
    "onnx": "ONNX is an open file format for machine learning models. A model becomes a graph of"
    " standard operators. ONNX Runtime runs that graph without the original framework.",
    "redis-streams": "A Redis stream is a persistent append-only log written with XADD. Consumer"
    " groups share its entries among workers. Each worker acknowledges an entry with XACK.",
    "pubsub": "Redis pub/sub sends a message on a channel to every client subscribed right then."
    " Clients can subscribe to channel patterns. A disconnected client misses the message.",
    "redis-cluster": "Redis Cluster shards keys over several primaries. Each key maps to one of"
    " 16384 hash slots. A hash tag in braces puts related keys in the same slot.",
}


def chunks(text, size=2, overlap=1):
    """Windows of `size` sentences, consecutive windows sharing `overlap` sentences."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    starts = range(0, max(len(sentences) - overlap, 1), size - overlap)
    return [" ".join(sentences[i:i + size]) for i in starts]


try:
    r.execute_command("FT.DROPINDEX", INDEX, "DD")  # DD also deletes the old rag:chunk:* hashes
except redis.ResponseError:
    pass  # first run: no index yet
r.execute_command(
    "FT.CREATE", INDEX, "ON", "HASH", "PREFIX", 1, PREFIX, "SCHEMA", "doc", "TAG", "text", "TEXT",
    "embedding", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE")


def ingest():
    items = [(doc, n, c) for doc, text in DOCS.items() for n, c in enumerate(chunks(text))]
    vectors = embed([c for _, _, c in items])
    with r.pipeline(transaction=False) as p:
        for (doc, n, c), v in zip(items, vectors):
            p.hset(f"{PREFIX}{doc}:{n}", mapping={"doc": doc, "text": c, "embedding": v.tobytes()})
        p.execute()
    return len(items)


n = ingest()
print(f"ingested {len(DOCS)} documents as {n} chunks; tokenizer cache {tok_stats}")
tok_stats.update(hit=0, miss=0)
ingest()  # re-ingesting the same text (idempotent: same keys) must not tokenize again
print(f"re-ingested; tokenizer cache {tok_stats}")
assert tok_stats == {"hit": n, "miss": 0}, tok_stats

r.hset(TEMPLATE, mapping={
    "v1": "Answer the question using the context.\n\n"
          "Context:\n{context}\n\nQuestion: {question}\nAnswer:",
    "v2": "You are a concise assistant. Answer only from the passages below and cite the passage"
          " you used as [doc-id]. If they do not contain the answer, say so.\n\n"
          "Passages:\n{context}\n\nQuestion: {question}\nAnswer (with citation):",
    "current": "v1"})


def render(**variables):
    """The active template version, filled in: dynamic prompts with no code change."""
    version = r.hget(TEMPLATE, "current").decode()
    return version, r.hget(TEMPLATE, version).decode().format_map(variables)


def retrieve(question, k=3):
    res = r.execute_command(
        "FT.SEARCH", INDEX, f"*=>[KNN {k} @embedding $v AS distance]",
        "RETURN", 3, "doc", "text", "distance", "SORTBY", "distance",
        "DIALECT", 2, "PARAMS", 2, "v", embed([question])[0].tobytes())
    hits = [{a.decode(): b.decode() for a, b in zip(f[::2], f[1::2])} for f in res[2::2]]
    return [(h["doc"], h["text"], float(h["distance"])) for h in hits]


def llm(prompt):
    base = os.environ.get("OPENAI_BASE_URL")
    if base:  # any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp...
        body = {"model": os.environ.get("RAG_LLM_MODEL", "gpt-4o-mini"), "temperature": 0,
                "messages": [{"role": "user", "content": prompt}]}
        headers = {"Content-Type": "application/json"}
        if os.environ.get("OPENAI_API_KEY"):  # local servers often need none
            headers["Authorization"] = "Bearer " + os.environ["OPENAI_API_KEY"]
        req = urllib.request.Request(base.rstrip("/") + "/chat/completions",
                                     data=json.dumps(body).encode(), headers=headers)
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.load(resp)["choices"][0]["message"]["content"].strip()
    # LOCAL STAND-IN, not a language model: the first (nearest) passage of the prompt, cited.
    doc, text = re.search(r"^\[([\w-]+)\] (.*)$", prompt, re.M).groups()
    return f"[local stand-in, no LLM configured] {text} [{doc}]"


QUESTIONS = [
    ("How does Redis avoid losing data when the server restarts?", "redis-persistence"),
    ("Which index finds approximate nearest neighbours of a vector quickly?", "hnsw"),
    ("How can several workers share a durable queue of messages and acknowledge each one?",
     "redis-streams"),
]
for i, (question, expected) in enumerate(QUESTIONS):
    passages = retrieve(question)
    context = "\n".join(f"[{doc}] {text}" for doc, text, _ in passages)
    print(f"\nQ: {question}")
    for doc, _, d in passages:
        print(f"   {d:.3f}  {doc}")
    if i == 0:  # show the same question under both template versions, then switch for good
        print("--- prompt, template %s ---\n%s" % render(context=context, question=question))
        r.hset(TEMPLATE, "current", "v2")  # a prompt change (or rollback) is one HSET
        print("--- prompt, template %s ---\n%s\n---" % render(context=context, question=question))
    answer = llm(render(context=context, question=question)[1])
    print(f"A: {answer}")
    cited = re.findall(r"\[([\w-]+)\]", answer)
    assert set(cited) == {expected}, f"{question!r}: cited {cited}, expected {expected}"

tok_stats.update(hit=0, miss=0)
retrieve(QUESTIONS[0][0])  # the same question again: its tokens come from the cache
assert tok_stats == {"hit": 1, "miss": 0}, tok_stats
print("\ndone")
