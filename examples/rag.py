"""RAG with prompt templates: answer questions from your own documents, with citations.
The server does the retrieval side: a tokenizer and a sentence-embedding model stored in Redis
(AI.MODELSTORE TOKENIZER and ONNX) embed each chunk and write it into an HNSW index in one
AI.DAGEXECUTE (AI.POOL, AI.HSET), and a question fetches its nearest chunks in one more
(AI.FTSEARCH KNN). A prompt template kept in Redis, versioned in a hash (v1, v2, `current`),
turns them into the prompt. Chunks whose text is already stored are not embedded again.
The client has redis-py and the standard library only.

Use it when an LLM must answer from data it was not trained on; a prompt change or rollback is
one HSET, no deploy. With OPENAI_BASE_URL set (OPENAI_API_KEY, RAG_LLM_MODEL as needed) the LLM is
<base>/chat/completions; without, a labelled local stand-in cites the nearest passage (no network).
Run against `make run`'s server:  python examples/rag.py   (EMBED_MODEL_DIR as in semantic_cache;
REDIS_CLUSTER=1 when REDIS_URL names a node of a Redis Cluster)
"""

import json
import os
import re
import urllib.request

import redis
import redis.cluster

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
MODEL_DIR = os.environ.get(
    "EMBED_MODEL_DIR", os.path.expanduser("~/.cache/redisai/models/all-minilm-l6-v2"))
# One hash tag: the keys of a DAG live in one cluster slot.
TOKENIZER, MODEL, INDEX, PREFIX, DIM = "{rag}tokenizer", "{rag}embedder", "rag", "{rag}chunk:", 384
TEMPLATE = "rag:template:answer"

# REDIS_CLUSTER=1: URL names a node of a Redis Cluster. The keys share one hash tag, so each
# DAG runs on that tag's master; FT.* searches answer for the whole cluster from any node.
r = (redis.cluster.RedisCluster if os.environ.get("REDIS_CLUSTER") else redis.Redis).from_url(URL)
if not r.exists(MODEL):
    with open(os.path.join(MODEL_DIR, "tokenizer.json")) as f:
        tok = json.load(f)
    # Truncate at 256 tokens and pad a batch only to its longest text (the file pads to 128).
    tok["truncation"] = {"direction": "Right", "max_length": 256, "strategy": "LongestFirst",
                         "stride": 0}
    tok["padding"] = {"strategy": "BatchLongest", "direction": "Right",
                      "pad_to_multiple_of": None, "pad_id": 0, "pad_type_id": 0,
                      "pad_token": "[PAD]"}
    r.execute_command("AI.MODELSTORE", TOKENIZER, "TOKENIZER", "CPU", "BLOB", json.dumps(tok))
    with open(os.path.join(MODEL_DIR, "model.onnx"), "rb") as f:
        r.execute_command("AI.MODELSTORE", MODEL, "ONNX", "CPU", "BLOB", f.read())

embed_stats = {"embedded": 0, "unchanged": 0}


def embed_ops(text):
    """DAG ops: one text in, its unit vector out as `emb` (sentence-transformers' mean pooling
    over the real tokens and normalisation, in the server)."""
    return ["|>", "AI.TENSORSET", "text", "STRING", 1, "VALUES", text,
            "|>", "AI.MODELEXECUTE", TOKENIZER, "INPUTS", 1, "text",
            "OUTPUTS", 3, "ids", "mask", "types",
            "|>", "AI.MODELEXECUTE", MODEL, "INPUTS", 3, "ids", "mask", "types",
            "OUTPUTS", 1, "hidden",
            "|>", "AI.POOL", "MEAN", "NORMALIZE", "INPUTS", 2, "hidden", "mask",
            "OUTPUTS", 1, "emb"]


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
    """Each chunk in one call: embedded and written into the index as a hash. A chunk whose
    key already holds the same text is left alone (re-ingesting costs no model run)."""
    items = [(f"{PREFIX}{doc}:{n}", doc, c)
             for doc, text in DOCS.items() for n, c in enumerate(chunks(text))]
    with r.pipeline(transaction=False) as p:
        for key, _, _ in items:
            p.hget(key, "text")
        stored = p.execute()
    for (key, doc, c), old in zip(items, stored):
        if old is not None and old.decode() == c:
            embed_stats["unchanged"] += 1
            continue
        r.execute_command("AI.DAGEXECUTE", "ROUTING", MODEL, *embed_ops(c),
                          "|>", "AI.HSET", key, "VECTOR", "embedding", "emb",
                          "FIELDS", 4, "doc", doc, "text", c)
        embed_stats["embedded"] += 1
    return len(items)


n = ingest()
print(f"ingested {len(DOCS)} documents as {n} chunks; {embed_stats}")
assert embed_stats == {"embedded": n, "unchanged": 0}, embed_stats
embed_stats.update(embedded=0, unchanged=0)
ingest()  # re-ingesting the same text (idempotent: same keys) must not embed again
print(f"re-ingested; {embed_stats}")
assert embed_stats == {"embedded": 0, "unchanged": n}, embed_stats

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
    """One call: the question is embedded and searched with in the server."""
    out = r.execute_command(
        "AI.DAGEXECUTE_RO", "ROUTING", MODEL, *embed_ops(question),
        "|>", "AI.FTSEARCH", INDEX, f"*=>[KNN {k} @embedding $v AS distance]", "VECTOR", "v", "emb",
        "RETURN", 3, "doc", "text", "distance", "SORTBY", "distance", "DIALECT", 2)
    res = out[-1]
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

print("\ndone")
