"""Text in, answers out (issue 19): the TOKENIZER backend, AI.POOL and AI.HSET.

The reference is the client-side pipeline the examples used before: Python `tokenizers` for the
ids, onnxruntime for the encoder, numpy for sentence-transformers' mean pooling and L2
normalisation, all on the same all-MiniLM-L6-v2 files (`make deps-embed`: tokenizer.json and
model.onnx in ~/.cache/redisai/models/all-minilm-l6-v2, or EMBED_MODEL_DIR).
"""

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.exceptions import NoPermissionError, ResponseError

from redis_server import RedisServer

MODEL_DIR = Path(os.environ.get(
    "EMBED_MODEL_DIR", Path.home() / ".cache/redisai/models/all-minilm-l6-v2"))
TOKENIZER_JSON = MODEL_DIR / "tokenizer.json"
MODEL_ONNX = MODEL_DIR / "model.onnx"
DIM = 384

TEXTS = ["hello world", "Redis module in Rust",
         "A much longer sentence, with punctuation; numbers 12345 and ÜNÏCÖDÉ — 東京!", ""]

needs_model = pytest.mark.skipif(
    not (TOKENIZER_JSON.exists() and MODEL_ONNX.exists()),
    reason=f"no all-MiniLM-L6-v2 in {MODEL_DIR} (make deps-embed)")


def batch_longest_json(max_length=256):
    """The model's tokenizer.json as the examples configure it: truncation to 256 tokens,
    padding to the batch's longest text (the file itself pads to a fixed 128)."""
    d = json.loads(TOKENIZER_JSON.read_bytes())
    d["truncation"] = {"direction": "Right", "max_length": max_length,
                       "strategy": "LongestFirst", "stride": 0}
    d["padding"] = {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                    "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}
    return json.dumps(d).encode()


def strings(texts):
    return ["AI.TENSORSET", "text", "STRING", len(texts), "VALUES", *texts]


def ints(blob, shape):
    return np.frombuffer(blob, dtype=np.int64).reshape(shape)


@pytest.fixture
def server():
    s = RedisServer(server_args=["--enable-debug-command", "yes"])
    yield s
    s.stop()


@pytest.fixture
def r(server):
    return redis.Redis(port=server.port)


def tokenize(r, key, texts):
    out = r.execute_command(
        "AI.DAGEXECUTE", "ROUTING", key, "|>", *strings(texts),
        "|>", "AI.MODELEXECUTE", key, "INPUTS", 1, "text",
        "OUTPUTS", 3, "ids", "mask", "types",
        "|>", "AI.TENSORGET", "ids", "META", "BLOB",
        "|>", "AI.TENSORGET", "mask", "BLOB",
        "|>", "AI.TENSORGET", "types", "BLOB")
    meta = dict(zip(out[2][::2], out[2][1::2]))
    shape = tuple(meta[b"shape"])
    assert meta[b"dtype"] == b"INT64"
    return ints(meta[b"blob"], shape), ints(out[3], shape), ints(out[4], shape)


@needs_model
@pytest.mark.parametrize("configured", [False, True])
def test_token_ids_equal_the_python_tokenizers_package(r, configured):
    from tokenizers import Tokenizer
    blob = batch_longest_json() if configured else TOKENIZER_JSON.read_bytes()
    assert r.execute_command("AI.MODELSTORE", "tok", "TOKENIZER", "CPU", "BLOB", blob) == b"OK"
    meta = r.execute_command("AI.MODELGET", "tok", "META")
    meta = dict(zip(meta[::2], meta[1::2]))
    assert meta[b"backend"] == b"TOKENIZER"
    assert meta[b"inputs"] == [b"text"]
    assert meta[b"outputs"] == [b"input_ids", b"attention_mask", b"token_type_ids"]
    ids, mask, types = tokenize(r, "tok", TEXTS)
    py = Tokenizer.from_str(blob.decode())
    enc = py.encode_batch(TEXTS)
    np.testing.assert_array_equal(ids, np.array([e.ids for e in enc]))
    np.testing.assert_array_equal(mask, np.array([e.attention_mask for e in enc]))
    np.testing.assert_array_equal(types, np.array([e.type_ids for e in enc]))
    assert ids.shape[1] == (128 if not configured else max(len(e.ids) for e in enc))
    # Truncation: a text of 2000 words gives 256 tokens, [SEP] last.
    ids, mask, _ = tokenize(r, "tok", ["word " * 2000])
    assert ids.shape == ((1, 128) if not configured else (1, 256))
    assert ids[0, -1] == 102 and mask.all()


@needs_model
def test_a_stored_tokenizer_survives_reload_dump_and_copy(r):
    r.execute_command("AI.MODELSTORE", "tok", "TOKENIZER", "CPU", "TAG", "v1", "BLOB",
                      batch_longest_json())
    before = tokenize(r, "tok", TEXTS)
    r.execute_command("DEBUG", "RELOAD")
    r.restore("tok2", 0, r.dump("tok"))
    r.copy("tok", "tok3")
    for key in ("tok", "tok2", "tok3"):
        for a, b in zip(before, tokenize(r, key, TEXTS)):
            np.testing.assert_array_equal(a, b)
    assert r.execute_command("AI.MODELGET", "tok2", "BLOB") == batch_longest_json()
    info = r.execute_command("AI.INFO", "tok")
    info = dict(zip(info[::2], info[1::2]))
    assert info[b"backend"] == b"TOKENIZER" and info[b"calls"] >= 1


def test_hostile_tokenizers_and_texts_are_refused_and_change_nothing(r):
    for blob, why in [(b"not json", "invalid tokenizer.json"),
                      (b"{}", "invalid tokenizer.json"),
                      (b"[" * 200_000, "invalid tokenizer.json"),
                      (b'{"model": {"type": "WordPiece", "vocab": {}}}', "TOKENIZER")]:
        with pytest.raises(ResponseError, match=why):
            r.execute_command("AI.MODELSTORE", "bad", "TOKENIZER", "CPU", "BLOB", blob)
        assert not r.exists("bad")
    with pytest.raises(ResponseError, match="CPU only"):
        r.execute_command("AI.MODELSTORE", "t", "TOKENIZER", "GPU", "BLOB", b"{}")
    assert not r.exists("t")
    if not TOKENIZER_JSON.exists():
        return
    r.execute_command("AI.MODELSTORE", "tok", "TOKENIZER", "CPU", "BLOB", batch_longest_json())
    cases = [
        (["AI.TENSORSET", "text", "INT64", 1, "VALUES", 1], "STRING tensor"),
        (["AI.TENSORSET", "text", "STRING", 1, 2, "VALUES", "a", "b"], "shape [n]"),
        (["AI.TENSORSET", "text", "STRING", 1, "BLOB", b"\xff\xfe\0"], "not valid UTF-8"),
        (["AI.TENSORSET", "text", "STRING", 1, "BLOB", b"a" * (1 << 20) + b"a\0"],
         "over the limit"),
    ]
    for tensorset, why in cases:
        out = r.execute_command(
            "AI.DAGEXECUTE", "PERSIST", 1, "out", "|>", *tensorset,
            "|>", "AI.MODELEXECUTE", "tok", "INPUTS", 1, "text",
            "OUTPUTS", 3, "out", "mask", "types")
        assert isinstance(out[1], ResponseError) and why in str(out[1]), (why, out)
        assert not r.exists("out")
    # Pathological but valid: one 1 MiB word, control and bidi characters.
    ids, _, _ = tokenize(r, "tok", ["a" * (1 << 20), "\u202e\x01x\ufffd\u200b" * 1000])
    assert ids.shape[0] == 2 and ids[0].tolist()[:3] == [101, 100, 102]


def reference_embeddings(texts):
    """The examples' client-side path: tokenizers, onnxruntime, numpy pooling."""
    import onnxruntime as ort
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(TOKENIZER_JSON))
    tok.enable_truncation(256)
    tok.enable_padding()
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    sess = ort.InferenceSession(str(MODEL_ONNX), providers=["CPUExecutionProvider"])
    h = sess.run(None, {"input_ids": ids, "attention_mask": mask,
                        "token_type_ids": np.zeros_like(ids)})[0]
    v = (h * mask[..., None]).sum(axis=1) / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def store_pipeline(r, tokenizer_blob=None):
    r.execute_command("AI.MODELSTORE", "{e}tok", "TOKENIZER", "CPU", "BLOB",
                      tokenizer_blob or batch_longest_json())
    r.execute_command("AI.MODELSTORE", "{e}minilm", "ONNX", "CPU", "BLOB",
                      MODEL_ONNX.read_bytes())


def embed_ops(texts):
    return ["|>", *strings(texts),
            "|>", "AI.MODELEXECUTE", "{e}tok", "INPUTS", 1, "text",
            "OUTPUTS", 3, "ids", "mask", "types",
            "|>", "AI.MODELEXECUTE", "{e}minilm", "INPUTS", 3, "ids", "mask", "types",
            "OUTPUTS", 1, "hidden",
            "|>", "AI.POOL", "MEAN", "NORMALIZE", "INPUTS", 2, "hidden", "mask",
            "OUTPUTS", 1, "emb"]


@needs_model
@pytest.mark.parametrize("stock_file", [False, True])
def test_one_dag_embeds_text_as_the_client_side_pipeline_does(r, stock_file):
    store_pipeline(r, TOKENIZER_JSON.read_bytes() if stock_file else None)
    texts = TEXTS[:3]
    out = r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}minilm", *embed_ops(texts),
                            "|>", "AI.TENSORGET", "emb", "BLOB")
    assert out[:4] == [b"OK"] * 4
    got = np.frombuffer(out[4], dtype=np.float32).reshape(len(texts), DIM)
    want = reference_embeddings(texts)
    assert np.abs(got - want).max() < 1e-5
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-6)
    # Not normalised: the plain mean, with a norm that is not 1.
    out = r.execute_command(
        "AI.DAGEXECUTE", "ROUTING", "{e}minilm", *embed_ops(texts[:1])[:-11],
        "|>", "AI.POOL", "MEAN", "INPUTS", 2, "hidden", "mask", "OUTPUTS", 1, "emb",
        "|>", "AI.TENSORGET", "emb", "BLOB")
    mean = np.frombuffer(out[-1], dtype=np.float32)
    assert abs(np.linalg.norm(mean) - 1) > 1e-3
    np.testing.assert_allclose(mean / np.linalg.norm(mean), want[0], atol=1e-5)


def test_pool_arguments_and_shapes_are_checked(r):
    h = ["AI.TENSORSET", "h", "FLOAT", 1, 2, 2, "VALUES", 1, 2, 3, 4]
    m = ["AI.TENSORSET", "m", "INT64", 1, 2, "VALUES", 1, 0]
    ok = r.execute_command("AI.DAGEXECUTE", "ROUTING", "x", "|>", *h, "|>", *m,
                           "|>", "AI.POOL", "MEAN", "INPUTS", 2, "h", "m", "OUTPUTS", 1, "e",
                           "|>", "AI.TENSORGET", "e", "VALUES")
    assert ok[-1] == [b"1", b"2"]
    for pool, why in [
        (["AI.POOL", "MAX", "INPUTS", 2, "h", "m", "OUTPUTS", 1, "e"], "must be MEAN"),
        (["AI.POOL", "MEAN", "INPUTS", 1, "h", "OUTPUTS", 1, "e"], "INPUTS 2"),
        (["AI.POOL", "MEAN", "INPUTS", 2, "h", "m", "OUTPUTS", 1], "OUTPUTS 1"),
        (["AI.POOL", "MEAN", "INPUTS", 2, "h", "m", "OUTPUTS", 1, "e", "x"], "unexpected"),
        (["AI.POOL", "MEAN", "INPUTS", 2, "h", "nope", "OUTPUTS", 1, "e"], "cannot be found"),
    ]:
        with pytest.raises(ResponseError, match=why):
            r.execute_command("AI.DAGEXECUTE", "PERSIST", 1, "e", "|>", *h, "|>", *m,
                              "|>", *pool)
    # The shapes are only known when it runs: the op's error, nothing persisted.
    out = r.execute_command("AI.DAGEXECUTE", "PERSIST", 1, "e", "|>", *h, "|>", *m,
                            "|>", "AI.POOL", "MEAN", "INPUTS", 2, "m", "h", "OUTPUTS", 1, "e")
    assert isinstance(out[2], ResponseError) and "FLOAT tensor" in str(out[2])
    assert not r.exists("e")
    with pytest.raises(ResponseError, match="cannot be used in a deprecated"):
        r.execute_command("AI.DAGRUN", "|>", *h, "|>", *m,
                          "|>", "AI.POOL", "MEAN", "INPUTS", 2, "h", "m", "OUTPUTS", 1, "e")


def create_index(r):
    r.execute_command(
        "FT.CREATE", "docs", "ON", "HASH", "PREFIX", 1, "{e}doc:", "SCHEMA",
        "title", "TEXT", "lang", "TAG",
        "embedding", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", DIM,
        "DISTANCE_METRIC", "COSINE")


def embed_and_index(r, key, text, *fields):
    extra = ["FIELDS", len(fields), *fields] if fields else []
    return r.execute_command(
        "AI.DAGEXECUTE", "ROUTING", "{e}minilm", *embed_ops([text]),
        "|>", "AI.HSET", key, "VECTOR", "embedding", "emb", *extra)


@needs_model
def test_embed_and_index_in_one_call(r):
    store_pipeline(r)
    create_index(r)
    docs = {"{e}doc:1": "The cat sat on the mat", "{e}doc:2": "Stock markets fell sharply today",
            "{e}doc:3": "A kitten is sleeping on a rug"}
    for key, text in docs.items():
        out = embed_and_index(r, key, text, "title", text, "lang", "en")
        assert out == [b"OK"] * 5
    # Indexed when the call returned: the nearest documents to a cat sentence.
    q = reference_embeddings(["a cat on a carpet"])[0].astype(np.float32)
    res = r.execute_command("FT.SEARCH", "docs", "*=>[KNN 2 @embedding $v AS d]", "SORTBY", "d",
                            "RETURN", 1, "title", "DIALECT", 2, "PARAMS", 2, "v", q.tobytes())
    assert res[0] == 2 and {res[1], res[3]} == {b"{e}doc:1", b"{e}doc:3"}
    h = r.hgetall("{e}doc:2")
    assert h[b"title"] == docs["{e}doc:2"].encode() and h[b"lang"] == b"en"
    v = np.frombuffer(h[b"embedding"], dtype=np.float32)
    assert np.abs(v - reference_embeddings([docs["{e}doc:2"]])[0]).max() < 1e-5
    # An existing hash keeps its other fields.
    r.hset("{e}doc:4", mapping={"title": "old", "owner": "me"})
    embed_and_index(r, "{e}doc:4", "new text", "title", "new")
    assert r.hget("{e}doc:4", "owner") == b"me" and r.hget("{e}doc:4", "title") == b"new"


@needs_model
def test_hset_errors_change_nothing(r):
    store_pipeline(r)
    r.set("{e}str", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        embed_and_index(r, "{e}str", "text")
    with pytest.raises(ResponseError, match="read-only"):
        r.execute_command("AI.DAGEXECUTE_RO", "ROUTING", "{e}d", *embed_ops(["x"]),
                          "|>", "AI.HSET", "{e}d", "VECTOR", "embedding", "emb")
    with pytest.raises(ResponseError, match="even"):
        embed_and_index(r, "{e}d", "text", "title")
    with pytest.raises(ResponseError, match="VECTOR"):
        r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}d", *embed_ops(["x"]),
                          "|>", "AI.HSET", "{e}d", "embedding", "emb")
    # A batch of two is not one vector: refused at the end, nothing written.
    with pytest.raises(ResponseError, match="one FLOAT or DOUBLE row"):
        r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}d", *embed_ops(["x", "y"]),
                          "|>", "AI.HSET", "{e}d", "VECTOR", "embedding", "emb")
    # A model that fails: the op's error, NA for AI.HSET, nothing written.
    out = r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}d",
                            "|>", "AI.TENSORSET", "text", "INT64", 1, "VALUES", 1,
                            "|>", "AI.MODELEXECUTE", "{e}tok", "INPUTS", 1, "text",
                            "OUTPUTS", 3, "ids", "mask", "types",
                            "|>", "AI.HSET", "{e}d", "VECTOR", "embedding", "ids")
    assert isinstance(out[1], ResponseError) and out[2] == b"NA"
    assert not r.exists("{e}d") and r.get("{e}str") == b"x"


@needs_model
def test_hset_is_replicated_and_persisted_as_hset():
    primary = RedisServer(server_args=["--appendonly", "yes", "--enable-debug-command", "yes"])
    replica = RedisServer(server_args=["--replicaof", "127.0.0.1", str(primary.port)])
    try:
        r, rr = redis.Redis(port=primary.port), redis.Redis(port=replica.port)
        deadline = time.time() + 20
        while rr.info("replication").get("master_link_status") != "up":
            assert time.time() < deadline, "the replica did not sync"
            time.sleep(0.05)
        store_pipeline(r)
        create_index(r)
        embed_and_index(r, "{e}doc:1", "hello world", "title", "hi")
        r.execute_command("WAIT", 1, 5000)
        assert rr.hgetall("{e}doc:1") == r.hgetall("{e}doc:1")
        aof = b"".join(p.read_bytes() for p in Path(primary.dir).rglob("*.aof"))
        assert b"HSET" in aof and b"AI.DAGEXECUTE" not in aof
        r.execute_command("DEBUG", "LOADAOF")
        assert r.hget("{e}doc:1", "title") == b"hi"
        assert r.execute_command("FT.SEARCH", "docs", "@title:hi")[0] == 1
    finally:
        replica.stop()
        primary.stop()


@needs_model
def test_hset_key_is_acl_checked(r):
    store_pipeline(r)
    r.execute_command("ACL", "SETUSER", "app", "on", "nopass", "~{e}doc:*", "~{e}minilm",
                      "~{e}tok", "+@all")
    r.execute_command("ACL", "SETUSER", "ro", "on", "nopass", "~{e}minilm", "~{e}tok",
                      "%R~{e}doc:*", "+@all")
    app = redis.Redis(port=r.connection_pool.connection_kwargs["port"], username="app",
                      password="x")
    ro = redis.Redis(port=r.connection_pool.connection_kwargs["port"], username="ro",
                     password="x")
    assert embed_and_index(app, "{e}doc:1", "ok")[-1] == b"OK"
    with pytest.raises(NoPermissionError):
        embed_and_index(app, "{e}other:1", "no")
    with pytest.raises(NoPermissionError):
        embed_and_index(ro, "{e}doc:2", "no")
    assert not r.exists("{e}other:1") and not r.exists("{e}doc:2")


def search_reply_titles(reply):
    return [dict(zip(f[::2], f[1::2]))[b"title"] for f in reply[2::2]]


@needs_model
def test_text_to_top_k_in_one_call(r):
    store_pipeline(r)
    create_index(r)
    for i, text in enumerate(["The cat sat on the mat", "Stock markets fell sharply today",
                              "A kitten is sleeping on a rug", "Interest rates rise again"]):
        embed_and_index(r, f"{{e}}doc:{i}", text, "title", text)
    query = "*=>[KNN 2 @embedding $v AS d]"
    for dag in ("AI.DAGEXECUTE", "AI.DAGEXECUTE_RO"):
        out = r.execute_command(
            dag, "ROUTING", "{e}minilm", *embed_ops(["a cat on a carpet"]),
            "|>", "AI.FTSEARCH", "docs", query, "VECTOR", "v", "emb",
            "SORTBY", "d", "RETURN", 1, "title", "DIALECT", 2)
        assert out[:4] == [b"OK"] * 4
        assert out[4][0] == 2
        assert set(search_reply_titles(out[4])) == {b"The cat sat on the mat",
                                                    b"A kitten is sleeping on a rug"}
    # The caller's own PARAMS keep working beside the vector.
    out = r.execute_command(
        "AI.DAGEXECUTE", "ROUTING", "{e}minilm", *embed_ops(["central bank policy"]),
        "|>", "AI.FTSEARCH", "docs", "*=>[KNN $k @embedding $v AS d]", "VECTOR", "v", "emb",
        "SORTBY", "d", "RETURN", 1, "title", "PARAMS", 2, "k", 1, "DIALECT", 2)
    assert search_reply_titles(out[4]) == [b"Interest rates rise again"]
    # Same vector as the client-side path sends: same answer as a plain FT.SEARCH.
    q = reference_embeddings(["central bank policy"])[0].astype(np.float32)
    plain = r.execute_command("FT.SEARCH", "docs", "*=>[KNN 1 @embedding $v AS d]",
                              "RETURN", 1, "title", "DIALECT", 2, "PARAMS", 2, "v", q.tobytes())
    assert search_reply_titles(plain) == search_reply_titles(out[4])
    # Errors are the op's entry; a failed model leaves the search NA.
    out = r.execute_command(
        "AI.DAGEXECUTE", "ROUTING", "{e}minilm", *embed_ops(["x"]),
        "|>", "AI.FTSEARCH", "nosuchindex", query, "VECTOR", "v", "emb", "DIALECT", 2)
    assert isinstance(out[4], ResponseError)
    out = r.execute_command(
        "AI.DAGEXECUTE", "ROUTING", "{e}minilm",
        "|>", "AI.TENSORSET", "emb", "FLOAT", 1, 2, "VALUES", 1, 2,
        "|>", "AI.TENSORSET", "text", "INT64", 1, "VALUES", 1,
        "|>", "AI.MODELEXECUTE", "{e}tok", "INPUTS", 1, "text", "OUTPUTS", 3, "a", "b", "c",
        "|>", "AI.FTSEARCH", "docs", query, "VECTOR", "v", "emb", "DIALECT", 2)
    assert isinstance(out[2], ResponseError) and out[3] == b"NA"
    with pytest.raises(ResponseError, match="VECTOR"):
        r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}minilm", *embed_ops(["x"]),
                          "|>", "AI.FTSEARCH", "docs", query, "emb")
    # A user who may not run FT.SEARCH cannot search through a DAG either.
    r.execute_command("ACL", "SETUSER", "nosearch", "on", "nopass", "~*", "+@all",
                      "-ft.search")
    u = redis.Redis(port=r.connection_pool.connection_kwargs["port"], username="nosearch",
                    password="x")
    out = u.execute_command(
        "AI.DAGEXECUTE", "ROUTING", "{e}minilm", *embed_ops(["x"]),
        "|>", "AI.FTSEARCH", "docs", query, "VECTOR", "v", "emb", "DIALECT", 2)
    assert isinstance(out[4], ResponseError) and "permission" in str(out[4]).lower(), out[4]
