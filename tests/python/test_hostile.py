"""Hostile input: every AI.* and FT.* command fed malformed arguments.

Part 1 — a table of hand-written bad commands. Each row is an argv and the exact error text a
client sees (`str(exception)` in redis-py, which drops a leading `ERR `; the table spells the
text as it goes on the wire, `ERR ` included, as the specs do). Before each row the keyspace
holds known keys (tensors, a model, a string, a list, hashes, three indexes); after it,
every key's TYPE, DUMP and DEBUG DIGEST-VALUE, DBSIZE, FT._LIST, the indexes' document counts,
the model's run statistics and the AI.CONFIG values must be exactly as before: a refused
command changes nothing. The expected texts come from ../shared/spec/redisai-commands.md
(AI.*) and ../shared/spec/vector-search.md (FT.*); where the specs name no text, the module's
own text (src/error.rs and the parsers) is the contract.

Part 2 — 100,000 seeded random commands (mutations of valid ones, keywords, extreme numbers,
random bytes, blobs of wrong lengths, existing key names), pipelined: the server must answer
all of them, never with `ERR internal error` (a caught panic), stay up, log no panic, and give
back its memory after FLUSHALL.

Rows that show a bug are marked `xfail(strict=True, reason="bug: ...")` and assert the correct
behaviour.
"""

import itertools
import json
import os
import random
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import redis

from redis_server import RedisServer

MODELS = Path(os.environ.get("REDISAI_TEST_MODELS", Path(__file__).resolve().parents[2] / "target/test-models"))


def model_bytes(name):
    path = MODELS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make models` (REDISAI_TEST_MODELS={MODELS})")
    return path.read_bytes()


# Extreme numbers.
I63 = str(2**63)  # one past i64::MAX
I63M = str(2**63 - 1)  # i64::MAX
I64 = str(2**64)  # one past u64::MAX
U64M = str(2**64 - 1)  # u64::MAX
NEG63 = str(-(2**63))  # i64::MIN
NEG63M = str(-(2**63) - 1)  # one below i64::MIN
P40 = str(2**40)
P32 = str(2**32)

F2 = np.array([1, 2], np.float32).tobytes()  # a valid 2-dim FLOAT32 vector / FLOAT 2 blob
BIN_INDEX = b"u\xff"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def arity(cmd):
    return f"ERR wrong number of arguments for '{cmd}' command"


def shown(text):
    """What redis-py's str(ResponseError) shows for an error sent as `text`."""
    return text[4:] if text.startswith("ERR ") else text


# ---------------------------------------------------------------------------------------------
# The seeded keyspace.

MLP = None


def seed(r):
    """Flushes everything (keys, indexes, settings) and writes the known keys."""
    global MLP
    if MLP is None:
        MLP = model_bytes("mlp.onnx")
    for name in r.execute_command("FT._LIST"):
        r.execute_command("FT.DROPINDEX", name)
    r.execute_command("FLUSHALL", "SYNC")
    r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", "535822336")
    # Indexes first: the documents below are then indexed as they are written.
    r.execute_command(
        "FT.CREATE", "idx", "ON", "HASH", "PREFIX", "1", "doc:", "SCHEMA",
        "title", "TEXT", "tag", "TAG", "n", "NUMERIC", "SORTABLE",
        "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "L2",
    )
    r.execute_command(
        "FT.CREATE", "hidx", "ON", "HASH", "PREFIX", "1", "hd:", "SCHEMA",
        "v", "VECTOR", "HNSW", "10", "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "COSINE",
        "M", "4", "EF_RUNTIME", "5",
    )
    # An index whose name is not UTF-8 (names are binary-safe strings, like key names).
    r.execute_command("AI.TENSORSET", "t", "FLOAT", "2", "2", "VALUES", "1", "2", "3", "4")
    r.execute_command("AI.TENSORSET", "t4", "FLOAT", "1", "4", "VALUES", "1", "2", "3", "4")
    r.execute_command("AI.TENSORSET", "t8", "INT8", "1", "4", "VALUES", "1", "2", "3", "4")
    r.execute_command("AI.TENSORSET", "ts", "STRING", "2", "VALUES", "a", "b")
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "TAG", "v1", "BLOB", MLP)
    r.set("s", "hello")
    r.rpush("l", "a", "b")
    r.hset("h", mapping={"f": "v"})
    r.hset("doc:1", mapping={"title": "hello world", "tag": "a", "n": "5", "v": F2})
    r.hset("doc:2", mapping={"title": "bye", "tag": "b", "n": "7", "v": np.array([3, 4], np.float32).tobytes()})
    r.hset("hd:1", mapping={"v": F2})
    deadline = time.time() + 10
    while any(info(r, i)["indexing"] for i in ("idx", "hidx")):
        assert time.time() < deadline, "the initial index scan did not finish"
        time.sleep(0.01)


def info(r, index):
    flat = r.execute_command("FT.INFO", index)
    d = dict(zip(flat[::2], flat[1::2]))
    return {k.decode(): v for k, v in d.items()}


def snapshot(r):
    """Everything a refused command must leave alone."""
    keys = sorted(r.keys("*"))
    p = r.pipeline(transaction=False)
    for k in keys:
        p.type(k)
        p.execute_command("DUMP", k)
        p.execute_command("DEBUG", "DIGEST-VALUE", k)
    p.dbsize()
    p.execute_command("FT._LIST")
    p.execute_command("AI._MODELSCAN")
    p.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE")
    p.execute_command("AI.CONFIG", "GET", "BACKENDSPATH")
    out = p.execute()
    per_key = {k: tuple(out[3 * i: 3 * i + 3]) for i, k in enumerate(keys)}
    dbsize, indexes, scan, chunk, path = out[3 * len(keys):]
    indexes = sorted(indexes)
    counts = {}
    for name in indexes:
        i = info(r, name)
        counts[name] = (i["num_docs"], i["max_doc_id"], i["hash_indexing_failures"])
    stats = {}
    for k, _tag in scan:
        flat = r.execute_command("AI.INFO", k)
        d = dict(zip(flat[::2], flat[1::2]))
        stats[k] = (d[b"calls"], d[b"errors"], d[b"samples"])
    return {
        "keys": per_key,
        "dbsize": dbsize,
        "indexes": indexes,
        "index_counts": counts,
        "modelscan": sorted(map(tuple, scan)),
        "stats": stats,
        "config": (chunk, path),
    }


class Env:
    """One server for the whole module; restarted if a case kills it, re-seeded if a case
    changed the keyspace."""

    def __init__(self):
        self.server = None
        self.start()

    def start(self):
        if self.server is not None:
            self.server.stop()
        self.server = RedisServer(server_args=("--enable-debug-command", "yes"))
        self.r = redis.Redis(host="127.0.0.1", port=self.server.port, socket_timeout=30)
        seed(self.r)
        self.baseline = snapshot(self.r)

    def ready(self):
        if not self.server.alive():
            self.start()
            return
        try:
            if snapshot(self.r) != self.baseline:
                seed(self.r)
                assert snapshot(self.r) == self.baseline
        except redis.ConnectionError:
            self.start()

    def log(self):
        return self.server.log()

    def stop(self):
        self.server.stop()


@pytest.fixture(scope="module")
def env():
    e = Env()
    yield e
    e.stop()


def panics(log_text):
    return [line for line in log_text.splitlines() if "panic" in line.lower()]


# ---------------------------------------------------------------------------------------------
# The table.


class Case:
    def __init__(self, group, label, argv, error, bug=None, multi=False, runs=False):
        self.group = group
        self.label = label
        self.argv = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
        self.error = error
        self.bug = bug
        self.multi = multi  # sent inside MULTI/EXEC
        self.runs = runs  # reaches a backend: the model's error counter may move

    @property
    def id(self):
        return f"{self.group}-{self.label}"


CASES = []


def group(name):
    def add(label, argv, error, **kw):
        CASES.append(Case(name, label, argv, error, **kw))

    return add


# --- AI.TENSORSET ----------------------------------------------------------------------------
c = group("TENSORSET")
SHAPE = "ERR invalid or negative value found in tensor shape"
DTYPE = "ERR invalid data type"
BLOB1 = "ERR a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"
NVALUES = "ERR wrong number of values was given in 'AI.TENSORSET' command"
VALUE = "ERR invalid value"
DATALEN = "ERR data length does not match tensor shape and type"
STRELEMS = "ERR Number of string elements in data blob does not match tensor length"
BOOLS = "ERR BOOL tensor elements must be 0 or 1"
TOO_BIG_SHAPE = "ERR tensor shape is too large"


def too_large(nbytes):
    return f"ERR tensor of {nbytes} bytes exceeds the limit of 536870912 bytes (ai.tensor_max_bytes)"


c("no-args", ["AI.TENSORSET"], arity("AI.TENSORSET"))
c("key-only", ["AI.TENSORSET", "x"], arity("AI.TENSORSET"))
c("no-shape", ["AI.TENSORSET", "x", "FLOAT"], arity("AI.TENSORSET"))
c("wrongtype-string", ["AI.TENSORSET", "s", "FLOAT", "1"], WRONGTYPE)
c("wrongtype-list", ["AI.TENSORSET", "l", "FLOAT", "1"], WRONGTYPE)
c("wrongtype-hash", ["AI.TENSORSET", "h", "FLOAT", "1", "VALUES", "1"], WRONGTYPE)
c("wrongtype-model", ["AI.TENSORSET", "m", "FLOAT", "1", "VALUES", "1"], WRONGTYPE)
c("wrongtype-doc", ["AI.TENSORSET", "doc:1", "FLOAT", "1", "BLOB", F2[:4]], WRONGTYPE)
c("wrongtype-before-dtype", ["AI.TENSORSET", "s", "NOPE", "0"], WRONGTYPE)
for label, dt in [
    ("FLOAT32", "FLOAT32"), ("INT128", "INT128"), ("UINT32", "UINT32"), ("UINT64", "UINT64"),
    ("FLOAT16", "FLOAT16"), ("BFLOAT16", "BFLOAT16"), ("INT08", "INT08"), ("INT", "INT"),
    ("empty", ""), ("utf8-invalid", b"\xff\xfe"), ("nul-suffix", b"FLOAT\x00"), ("BOOLEAN", "BOOLEAN"),
]:
    c(f"dtype-{label}", ["AI.TENSORSET", "x", dt, "1"], DTYPE)
for label, dim in [
    ("zero", "0"), ("negative", "-1"), ("i64-min", NEG63), ("below-i64-min", NEG63M),
    ("2^63", I63), ("2^64", I64), ("u64-max", U64M), ("fraction", "1.5"), ("exponent", "1e3"),
    ("plus", "+1"), ("leading-zero", "01"), ("space", " 1"), ("hex", "0x10"), ("word", "abc"),
    ("empty", ""), ("utf8-invalid", b"\xff"), ("nul", b"1\x00"), ("dtype-again", "FLOAT"),
]:
    c(f"dim-{label}", ["AI.TENSORSET", "x", "FLOAT", "2", dim], SHAPE)
c("dim-zero-with-blob", ["AI.TENSORSET", "x", "FLOAT", "0", "BLOB", b""], SHAPE)
c("dim-negative-with-values", ["AI.TENSORSET", "x", "INT8", "-2", "VALUES", "1", "2"], SHAPE)
# Shape products past the integer types.
c("product-2^64", ["AI.TENSORSET", "x", "FLOAT", P32, P32], TOO_BIG_SHAPE)
c("product-2^64-values", ["AI.TENSORSET", "x", "FLOAT", P32, P32, "VALUES", "1"], TOO_BIG_SHAPE)
c("product-2^64-blob", ["AI.TENSORSET", "x", "INT8", P32, P32, "BLOB", b"\x00"], TOO_BIG_SHAPE)
c("bytes-over-u64", ["AI.TENSORSET", "x", "FLOAT", I63M], TOO_BIG_SHAPE)
c("bytes-over-u64-double", ["AI.TENSORSET", "x", "DOUBLE", "3037000500", "3037000500"], TOO_BIG_SHAPE)
c("product-over-i64", ["AI.TENSORSET", "x", "INT8", I63M, "2"], too_large(2**64 - 2))
c("i64-max-elements", ["AI.TENSORSET", "x", "INT8", I63M], too_large(2**63 - 1))
c("four-gib-zeros", ["AI.TENSORSET", "x", "FLOAT", "65536", "65536"], too_large(2**34))
c("string-zeros-2^40", ["AI.TENSORSET", "x", "STRING", P40], too_large(9 * 2**40))
c("huge-shape-small-blob", ["AI.TENSORSET", "x", "FLOAT", "1000000000", "BLOB", F2], too_large(4 * 10**9))
# BLOB arity and lengths.
c("blob-missing", ["AI.TENSORSET", "x", "FLOAT", "2", "BLOB"], BLOB1)
c("blob-scalar-missing", ["AI.TENSORSET", "x", "FLOAT", "BLOB"], BLOB1)
c("blob-two", ["AI.TENSORSET", "x", "FLOAT", "2", "BLOB", F2, F2], BLOB1)
c("blob-then-values", ["AI.TENSORSET", "x", "FLOAT", "1", "BLOB", F2[:4], "VALUES", "1"], BLOB1)
c("blob-twice", ["AI.TENSORSET", "x", "FLOAT", "2", "BLOB", F2, "BLOB", F2], BLOB1)
c("blob-trailing", ["AI.TENSORSET", "x", "FLOAT", "2", "BLOB", F2, "extra"], BLOB1)
for label, dt, dims, n in [
    ("FLOAT-minus1", "FLOAT", ["2"], 7), ("FLOAT-plus1", "FLOAT", ["2"], 9), ("FLOAT-empty", "FLOAT", ["2"], 0),
    ("FLOAT-scalar-minus1", "FLOAT", [], 3), ("DOUBLE-minus1", "DOUBLE", ["1"], 7), ("DOUBLE-plus1", "DOUBLE", ["1"], 9),
    ("INT8-plus1", "INT8", ["3"], 4), ("INT16-minus1", "INT16", ["3"], 5), ("INT32-plus1", "INT32", ["2", "2"], 17),
    ("INT64-minus1", "INT64", ["1"], 7), ("UINT8-minus1", "UINT8", ["2"], 1), ("UINT16-plus1", "UINT16", ["2"], 5),
    ("BOOL-plus1", "BOOL", ["2"], 3),
]:
    c(f"bloblen-{label}", ["AI.TENSORSET", "x", dt, *dims, "BLOB", b"\x00" * n], DATALEN)
c("bool-blob-2", ["AI.TENSORSET", "x", "BOOL", "2", "BLOB", b"\x00\x02"], BOOLS)
c("bool-blob-last-byte", ["AI.TENSORSET", "x", "BOOL", "3", "BLOB", b"\x01\x00\xff"], BOOLS)
c("string-blob-no-final-nul", ["AI.TENSORSET", "x", "STRING", "2", "BLOB", b"a\x00b"], STRELEMS)
c("string-blob-too-few", ["AI.TENSORSET", "x", "STRING", "2", "BLOB", b"a\x00"], STRELEMS)
c("string-blob-too-many", ["AI.TENSORSET", "x", "STRING", "2", "BLOB", b"a\x00b\x00c\x00"], STRELEMS)
c("string-blob-empty", ["AI.TENSORSET", "x", "STRING", "1", "BLOB", b""], STRELEMS)
c("string-blob-no-nul", ["AI.TENSORSET", "x", "STRING", "1", "BLOB", b"abc"], STRELEMS)
# VALUES counts.
c("values-too-few", ["AI.TENSORSET", "x", "FLOAT", "2", "VALUES", "1"], NVALUES)
c("values-too-many", ["AI.TENSORSET", "x", "FLOAT", "2", "VALUES", "1", "2", "3"], NVALUES)
c("values-none", ["AI.TENSORSET", "x", "FLOAT", "2", "VALUES"], NVALUES)
c("values-scalar-none", ["AI.TENSORSET", "x", "FLOAT", "VALUES"], NVALUES)
c("values-count-2^40", ["AI.TENSORSET", "x", "INT8", P40, "VALUES", "1"], NVALUES)
c("values-twice", ["AI.TENSORSET", "x", "FLOAT", "1", "VALUES", "1", "VALUES", "1"], NVALUES)
c("values-then-blob", ["AI.TENSORSET", "x", "FLOAT", "1", "VALUES", "BLOB", F2[:4]], NVALUES)
c("values-trailing", ["AI.TENSORSET", "x", "FLOAT", "2", "VALUES", "1", "2", "garbage"], NVALUES)
# VALUES that do not parse or do not fit, for each dtype.
for dt, bad in [
    ("FLOAT", ["nan", "NaN", "-nan", "1e400", "-1e400", "1e39", "-3.5e38", "abc", "", "1,5", " 1", "1 ", b"\xff1"]),
    ("DOUBLE", ["nan", "1e400", "-1e400", "1e", "--1", "1.2.3", b"1\x00"]),
    ("INT8", ["128", "-129", "1.5", "inf", "nan", "1e2", "", "0x1", "+1"]),
    ("INT16", ["32768", "-32769", "1e400"]),
    ("INT32", ["2147483648", "-2147483649", "inf"]),
    ("INT64", [I63, NEG63M, I64, "1.0", "-inf"]),
    ("UINT8", ["256", "-1", "nan"]),
    ("UINT16", ["65536", "-1", U64M]),
    ("BOOL", ["2", "-1", "true", "1.0", "01", "inf"]),
]:
    for v in bad:
        if isinstance(v, bytes):
            label = v.hex()
        else:
            label = v.strip() or "empty"
            label = ("space-" if v.startswith(" ") else "") + label + ("-space" if v.endswith(" ") else "")
        c(f"value-{dt}-{label}", ["AI.TENSORSET", "x", dt, "2", "VALUES", "1", v], VALUE)
c("value-STRING-inner-nul", ["AI.TENSORSET", "x", "STRING", "2", "VALUES", "a", b"a\x00b"],
  "ERR C-string value contains null character")
c("value-STRING-two-nuls", ["AI.TENSORSET", "x", "STRING", "1", "VALUES", b"\x00\x00"],
  "ERR C-string value contains null character")
c("invalid-utf8-key-bad-shape", ["AI.TENSORSET", b"\xff\xfe", "FLOAT", "0"], SHAPE)
c("empty-key-bad-dtype", ["AI.TENSORSET", "", "NOPE", "1"], DTYPE)

# --- AI.TENSORGET ----------------------------------------------------------------------------
c = group("TENSORGET")
EMPTY_TENSOR = "ERR tensor key is empty or in a different shard"
FORMAT = "ERR unsupported data format"
BOTH = "ERR both BLOB and VALUES specified"
c("no-args", ["AI.TENSORGET"], arity("AI.TENSORGET"))
c("five-args", ["AI.TENSORGET", "t", "META", "BLOB", "META", "META"], arity("AI.TENSORGET"))
c("missing", ["AI.TENSORGET", "nokey"], EMPTY_TENSOR)
c("missing-empty-name", ["AI.TENSORGET", ""], EMPTY_TENSOR)
c("missing-utf8-invalid", ["AI.TENSORGET", b"\xc3\x28", "META"], EMPTY_TENSOR)
c("missing-before-format", ["AI.TENSORGET", "nokey", "FOO"], EMPTY_TENSOR)
for k in ["s", "l", "h", "m", "doc:1"]:
    c(f"wrongtype-{k}", ["AI.TENSORGET", k, "META"], WRONGTYPE)
c("wrongtype-before-format", ["AI.TENSORGET", "s", "FOO"], WRONGTYPE)
c("format-unknown", ["AI.TENSORGET", "t", "FOO"], FORMAT)
c("format-empty", ["AI.TENSORGET", "t", "META", ""], FORMAT)
c("format-utf8-invalid", ["AI.TENSORGET", "t", b"\xff"], FORMAT)
c("format-trailing", ["AI.TENSORGET", "t", "META", "BLOBS"], FORMAT)
c("format-nul", ["AI.TENSORGET", "t", b"BLOB\x00"], FORMAT)
c("blob-and-values", ["AI.TENSORGET", "t", "BLOB", "VALUES"], BOTH)
c("values-blob-lowercase", ["AI.TENSORGET", "ts", "values", "blob"], BOTH)

# --- AI.MODELSTORE ---------------------------------------------------------------------------
c = group("MODELSTORE")
BACKEND = "ERR unsupported backend"
DEVICE = "ERR Invalid DEVICE"
NOBLOB = "ERR Insufficient arguments, missing model BLOB"
EXPECTED_BLOB = "ERR Invalid argument, expected BLOB"
B = "BLOB"
c("no-args", ["AI.MODELSTORE"], arity("AI.MODELSTORE"))
c("five-args", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "BLOB"], arity("AI.MODELSTORE"))
for label, be in [("PYTORCH", "PYTORCH"), ("empty", ""), ("utf8-invalid", b"\xff"), ("ONNX-nul", b"ONNX\x00"), ("TENSORFLOW", "TENSORFLOW")]:
    c(f"backend-{label}", ["AI.MODELSTORE", "m2", be, "CPU", B, "x"], BACKEND)
for label, dev in [
    ("TPU", "TPU"), ("CPU::", "CPU::"), ("CPU:1.8", "CPU:1.8"), ("CPU:123456", "CPU:123456"),
    ("empty", ""), ("CPU:-1", "CPU:-1"), ("utf8-invalid", b"\xff"), ("CPUX", "CPUX"), ("BLOB", "BLOB"),
]:
    c(f"device-{label}", ["AI.MODELSTORE", "m2", "ONNX", dev, B, "x"], DEVICE)
for label, n in [("negative", "-1"), ("word", "abc"), ("2^64", I64), ("fraction", "1.5"), ("keyword", "BLOB")]:
    c(f"batchsize-{label}", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "BATCHSIZE", n, B, "x"], "ERR Invalid argument for BATCHSIZE")
c("minbatch-without-batch", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "MINBATCHSIZE", "2", B, "x"], "ERR MINBATCHSIZE specified without BATCHSIZE")
c("minbatch-negative", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "BATCHSIZE", "4", "MINBATCHSIZE", "-1", B, "x"], "ERR Invalid argument for MINBATCHSIZE")
c("minbatch-2^64", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "BATCHSIZE", "4", "MINBATCHSIZE", I64, B, "x"], "ERR Invalid argument for MINBATCHSIZE")
c("timeout-without-minbatch", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "BATCHSIZE", "4", "MINBATCHTIMEOUT", "10", B, "x"], "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE")
c("timeout-word", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "BATCHSIZE", "4", "MINBATCHSIZE", "2", "MINBATCHTIMEOUT", "x", B, "x"], "ERR Invalid argument for MINBATCHTIMEOUT")
c("options-then-nothing", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "TAG", "t1", "BATCHSIZE", "2"], NOBLOB)
c("blob-without-data", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "TAG", "t1", B], NOBLOB)
c("inputs-for-onnx", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "INPUTS", "1", "x", B, "x"], "ERR INPUTS argument should not be specified for this backend")
c("not-blob", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "NOTBLOB", "x"], EXPECTED_BLOB)
c("tag-twice", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "TAG", "a", "TAG", "b", B, "x"], EXPECTED_BLOB)
c("batchsize-twice", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "BATCHSIZE", "1", "BATCHSIZE", "2", B, "x"], EXPECTED_BLOB)
c("tag-after-batchsize", ["AI.MODELSTORE", "m2", "ONNX", "CPU", "BATCHSIZE", "2", "TAG", "x", B, "x"], EXPECTED_BLOB)
c("tf-no-inputs", ["AI.MODELSTORE", "m2", "TF", "CPU", B, "x"], "ERR INPUTS not specified for TF")
c("tf-inputs-zero", ["AI.MODELSTORE", "m2", "TF", "CPU", "INPUTS", "0", "OUTPUTS", "1", "o", B, "x"], "ERR Invalid argument for input_count")
c("tf-inputs-2^64", ["AI.MODELSTORE", "m2", "TF", "CPU", "INPUTS", I64, "a", "OUTPUTS", "1", "o", B, "x"], "ERR Invalid argument for input_count")
c("tf-inputs-2^40", ["AI.MODELSTORE", "m2", "TF", "CPU", "INPUTS", P40, "a", "OUTPUTS", "1", "o", B, "x"], "ERR number of model inputs does not match the number of given arguments")
c("tf-no-outputs", ["AI.MODELSTORE", "m2", "TF", "CPU", "INPUTS", "1", "a", B, "x"], "ERR OUTPUTS not specified for TF")
c("tf-outputs-negative", ["AI.MODELSTORE", "m2", "TF", "CPU", "INPUTS", "1", "a", "OUTPUTS", "-1", "o", B, "x"], "ERR Invalid argument for output_count")
c("tf-outputs-2^40", ["AI.MODELSTORE", "m2", "TF", "CPU", "INPUTS", "1", "a", "OUTPUTS", P40, B, "x"], "ERR number of model outputs does not match the number of given arguments")
c("tf-not-blob", ["AI.MODELSTORE", "m2", "TF", "CPU", "INPUTS", "1", "a", "OUTPUTS", "1", "o", "NOTBLOB", "x"], EXPECTED_BLOB)
for k in ["s", "l", "t", "h"]:
    c(f"wrongtype-{k}", ["AI.MODELSTORE", k, "ONNX", "CPU", B, b"not a model"], WRONGTYPE)
c("gpu-without-cuda", ["AI.MODELSTORE", "m2", "ONNX", "GPU", B, b"\x00" * 4], "ERR GPU requested but ONNX couldn't find CUDA")

# --- AI.MODELSET (deprecated) ----------------------------------------------------------------
c = group("MODELSET")
c("three-args", ["AI.MODELSET", "m2", "ONNX"], arity("AI.MODELSET"))
c("backend", ["AI.MODELSET", "m2", "XX", "CPU", B, "x"], BACKEND)
c("device-too-long", ["AI.MODELSET", "m2", "ONNX", "CPU:123456789", B, "x"], DEVICE)
c("device-keyword", ["AI.MODELSET", "m2", "ONNX", "BLOB", "x"], DEVICE)
c("device-unsupported", ["AI.MODELSET", "m2", "ONNX", "TPU", B, "x"], "ERR unsupported device")
c("tflite-batching", ["AI.MODELSET", "m2", "TFLITE", "CPU", "BATCHSIZE", "2", B, "x"], "ERR Auto-batching not supported by the TFLITE backend")
c("minbatch-without-batch", ["AI.MODELSET", "m2", "ONNX", "CPU", "MINBATCHSIZE", "2", B, "x"], "ERR MINBATCHSIZE specified without BATCHSIZE")
c("timeout-without-batch", ["AI.MODELSET", "m2", "ONNX", "CPU", "MINBATCHTIMEOUT", "2", B, "x"], "ERR MINBATCHTIMEOUT specified without BATCHSIZE")
c("timeout-without-minbatch", ["AI.MODELSET", "m2", "ONNX", "CPU", "BATCHSIZE", "2", "MINBATCHTIMEOUT", "2", B, "x"], "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE")
c("batchsize-word", ["AI.MODELSET", "m2", "ONNX", "CPU", "BATCHSIZE", "x", B, "y"], "ERR Invalid argument for BATCHSIZE")
c("nothing-after-device", ["AI.MODELSET", "m2", "ONNX", "CPU"], NOBLOB)
c("blob-without-data", ["AI.MODELSET", "m2", "ONNX", "CPU", B], NOBLOB)
c("no-blob-keyword", ["AI.MODELSET", "m2", "ONNX", "CPU", "foo", "bar"], NOBLOB)
c("tf-nothing", ["AI.MODELSET", "m2", "TF", "CPU", B, "x"], "ERR Insufficient arguments, INPUTS and OUTPUTS not specified")
c("tf-no-inputs", ["AI.MODELSET", "m2", "TF", "CPU", "OUTPUTS", "a", B, "x"], "ERR INPUTS not specified")
c("tf-no-outputs", ["AI.MODELSET", "m2", "TF", "CPU", "INPUTS", "a", B, "x"], "ERR OUTPUTS not specified")
c("wrongtype", ["AI.MODELSET", "s", "ONNX", "CPU", B, "x"], WRONGTYPE)

# --- AI.MODELGET / AI.MODELDEL ---------------------------------------------------------------
c = group("MODELGET")
c("no-args", ["AI.MODELGET"], arity("AI.MODELGET"))
c("five-args", ["AI.MODELGET", "m", "META", "BLOB", "x", "y"], arity("AI.MODELGET"))
c("missing", ["AI.MODELGET", "nokey", "META"], "ERR model key is empty")
c("missing-empty-name", ["AI.MODELGET", ""], "ERR model key is empty")
for k in ["s", "l", "t", "h"]:
    c(f"wrongtype-{k}", ["AI.MODELGET", k, "META"], WRONGTYPE)
c = group("MODELDEL")
c("no-args", ["AI.MODELDEL"], arity("AI.MODELDEL"))
c("extra", ["AI.MODELDEL", "m", "extra"], arity("AI.MODELDEL"))
c("missing", ["AI.MODELDEL", "nokey"], "ERR model key is empty")
c("missing-utf8-invalid", ["AI.MODELDEL", b"\xff"], "ERR model key is empty")
for k in ["s", "l", "t", "h"]:
    c(f"wrongtype-{k}", ["AI.MODELDEL", k], WRONGTYPE)

# --- AI.MODELEXECUTE -------------------------------------------------------------------------
c = group("MODELEXECUTE")
X = "AI.MODELEXECUTE"
XARITY = arity("AI.MODELEXECUTE")
c("no-args", [X], XARITY)
c("seven-args", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1"], XARITY)
c("missing-model", [X, "nokey", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"], "ERR model key is empty")
c("model-is-string", [X, "s", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"], WRONGTYPE)
c("model-is-tensor", [X, "t", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"], WRONGTYPE)
c("no-inputs-keyword", [X, "m", "INPUT", "1", "t4", "OUTPUTS", "1", "o"], "ERR INPUTS not specified")
for label, n in [("word", "x"), ("2^63", I63), ("fraction", "1.0"), ("empty", "")]:
    c(f"inputs-{label}", [X, "m", "INPUTS", n, "t4", "OUTPUTS", "1", "o"], "ERR Invalid argument for input_count")
c("inputs-zero", [X, "m", "INPUTS", "0", "t4", "OUTPUTS", "1", "o"], "ERR Input count must be a positive integer")
c("inputs-i64-min", [X, "m", "INPUTS", NEG63, "t4", "OUTPUTS", "1", "o"], "ERR Input count must be a positive integer")
c("inputs-2^40", [X, "m", "INPUTS", P40, "t4", "OUTPUTS", "1", "o"], "Number of keys given as INPUTS here does not match model definition")
c("inputs-two", [X, "m", "INPUTS", "2", "t4", "t4", "OUTPUTS", "1", "o"], "Number of keys given as INPUTS here does not match model definition")
c("no-outputs-keyword", [X, "m", "INPUTS", "1", "t4", "OUTPUT", "1", "o"], "ERR OUTPUTS not specified")
c("outputs-word", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "x", "o"], "ERR Invalid argument for output_count")
c("outputs-zero", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "0", "o"], "ERR Output count must be a positive integer")
c("outputs-2^40", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", P40, "o"], "Number of keys given as OUTPUTS here does not match model definition")
c("outputs-u64-max", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", U64M, "o"], "ERR Invalid argument for output_count")
c("timeout-missing", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o", "TIMEOUT"], "ERR No value provided for TIMEOUT")
for label, v in [("zero", "0"), ("negative", "-5"), ("word", "abc"), ("2^63", I63), ("fraction", "1.5")]:
    c(f"timeout-{label}", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o", "TIMEOUT", v], "ERR Invalid value for TIMEOUT")
c("trailing-after-timeout", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o", "TIMEOUT", "10", "extra"], "Invalid argument: extra")
c("trailing-word", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o", "FOO"], "Invalid argument: FOO")
c("timeout-twice", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o", "TIMEOUT", "10", "TIMEOUT", "10"], "Invalid argument: TIMEOUT")
c("trailing-utf8-invalid", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o", b"\xff"], "Invalid argument: \ufffd")
c("input-missing", [X, "m", "INPUTS", "1", "nokey", "OUTPUTS", "1", "o"], EMPTY_TENSOR)
c("input-is-string", [X, "m", "INPUTS", "1", "s", "OUTPUTS", "1", "o"], WRONGTYPE)
c("input-is-model", [X, "m", "INPUTS", "1", "m", "OUTPUTS", "1", "o"], WRONGTYPE)
c("output-is-list", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "l"], WRONGTYPE)
c("output-is-model", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "m"], WRONGTYPE)
c("in-multi", [X, "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"], "ERR Cannot run RedisAI command within a transaction or a LUA script", multi=True)
c("input-wrong-shape", [X, "m", "INPUTS", "1", "t", "OUTPUTS", "1", "o"],
  # ONNX Runtime's text, flattened to one line (hence the double spaces).
  "Got invalid dimensions for input: x for the following indices  index: 1 Got: 2 Expected: 4  Please fix either the inputs/outputs or the model.",
  runs=True)
c("input-wrong-dtype", [X, "m", "INPUTS", "1", "t8", "OUTPUTS", "1", "o"],
  "Unexpected input data type. Actual: (tensor(int8)) , expected: (tensor(float))", runs=True)

# --- AI.MODELRUN (deprecated) ----------------------------------------------------------------
c = group("MODELRUN")
R = "AI.MODELRUN"
c("five-args", [R, "m", "INPUTS", "t4", "OUTPUTS"], arity(R))
c("missing-model", [R, "nokey", "INPUTS", "t4", "OUTPUTS", "o"], "ERR model key is empty")
c("model-is-hash", [R, "h", "INPUTS", "t4", "OUTPUTS", "o"], WRONGTYPE)
c("timeout-word", [R, "m", "TIMEOUT", "x", "INPUTS", "t4", "OUTPUTS", "o"], "ERR Invalid value for TIMEOUT")
c("timeout-zero", [R, "m", "TIMEOUT", "0", "INPUTS", "t4", "OUTPUTS", "o"], "ERR Invalid value for TIMEOUT")
c("timeout-no-value", [R, "m", "TIMEOUT", "INPUTS", "t4", "OUTPUTS", "o"], "ERR Invalid value for TIMEOUT")
c("no-inputs-keyword", [R, "m", "FOO", "t4", "OUTPUTS", "o"], "ERR INPUTS not specified")
c("two-inputs", [R, "m", "INPUTS", "t4", "t4", "OUTPUTS", "o"], "Number of keys given as INPUTS here does not match model definition")
c("two-outputs", [R, "m", "INPUTS", "t4", "OUTPUTS", "o", "p"], "Number of keys given as OUTPUTS here does not match model definition")
c("no-outputs-keyword", [R, "m", "INPUTS", "t4", "o", "p"], "Number of keys given as INPUTS here does not match model definition")
c("input-missing", [R, "m", "INPUTS", "nokey", "OUTPUTS", "o"], EMPTY_TENSOR)
c("output-is-string", [R, "m", "INPUTS", "t4", "OUTPUTS", "s"], WRONGTYPE)
c("in-multi", [R, "m", "INPUTS", "t4", "OUTPUTS", "o"], "ERR Cannot run RedisAI command within a transaction or a LUA script", multi=True)

# --- AI.DAGEXECUTE / AI.DAGEXECUTE_RO --------------------------------------------------------
c = group("DAGEXECUTE")
D = "AI.DAGEXECUTE"
UNEXPECTED = "ERR Invalid DAG command. Unexpected argument:  "
c("no-args", [D], "ERR missing arguments for 'AI.DAGEXECUTE' command")
c("five-args", [D, "LOAD", "1", "t", "|>"], "ERR missing arguments for 'AI.DAGEXECUTE' command")
c("load-word", [D, "LOAD", "x", "t", "|>", "AI.TENSORGET", "t", "META"], "ERR invalid or negative value found in number of keys to LOAD")
c("load-zero", [D, "LOAD", "0", "t", "|>", "AI.TENSORGET", "t", "META"], "ERR invalid or negative value found in number of keys to LOAD")
c("load-negative", [D, "LOAD", "-1", "t", "|>", "AI.TENSORGET", "t", "META"], "ERR invalid or negative value found in number of keys to LOAD")
c("load-2^63", [D, "LOAD", I63, "t", "|>", "AI.TENSORGET", "t", "META"], "ERR invalid or negative value found in number of keys to LOAD")
c("load-2^40", [D, "ROUTING", "t", "LOAD", P40, "t", "t4"], "ERR number of keys to LOAD into DAG does not match the number of given arguments")
c("load-2^40-eats-ops", [D, "LOAD", P40, "t", "|>", "AI.TENSORGET", "t", "META"], EMPTY_TENSOR)
c("load-args-missing", [D, "ROUTING", "t", "TIMEOUT", "5", "LOAD", "1"], "ERR missing arguments after LOAD keyword in DAG command")
c("load-missing-key", [D, "LOAD", "1", "nokey", "|>", "AI.TENSORGET", "nokey", "META"], EMPTY_TENSOR)
c("load-string", [D, "LOAD", "1", "s", "|>", "AI.TENSORGET", "s", "META"], WRONGTYPE)
c("load-model", [D, "LOAD", "1", "m", "|>", "AI.TENSORGET", "m", "META"], WRONGTYPE)
c("persist-word", [D, "PERSIST", "x", "o", "|>", "AI.TENSORSET", "o", "FLOAT", "1"], "ERR invalid or negative value found in number of keys to PERSIST")
c("persist-zero", [D, "PERSIST", "0", "o", "|>", "AI.TENSORSET", "o", "FLOAT", "1"], "ERR invalid or negative value found in number of keys to PERSIST")
c("persist-duplicate", [D, "PERSIST", "2", "o", "o", "|>", "AI.TENSORSET", "o", "FLOAT", "1"], "ERR PERSIST keys must be unique")
c("persist-2^40", [D, "ROUTING", "t", "PERSIST", P40, "a", "b"], "ERR number of keys to PERSIST after DAG execution does not match the number of given arguments")
c("persist-eats-ops", [D, "PERSIST", "3", "a", "b", "|>", "AI.TENSORSET", "a", "FLOAT", "1"], UNEXPECTED + "AI.TENSORSET")
c("persist-args-missing", [D, "ROUTING", "t", "TIMEOUT", "5", "PERSIST", "1"], "ERR missing arguments after PERSIST keyword in DAG command")
c("persist-never-produced", [D, "PERSIST", "1", "o", "|>", "AI.TENSORSET", "a", "FLOAT", "1"], "ERR PERSIST key cannot be found in DAG")
c("persist-into-string", [D, "PERSIST", "1", "s", "|>", "AI.TENSORSET", "s", "FLOAT", "1", "VALUES", "1"], WRONGTYPE)
c("persist-into-model", [D, "PERSIST", "1", "m", "|>", "AI.TENSORSET", "m", "FLOAT", "1", "VALUES", "1"], WRONGTYPE)
c("routing-missing", [D, "LOAD", "1", "t", "TIMEOUT", "5", "ROUTING"], "ERR Missing ROUTING value")
c("timeout-missing", [D, "ROUTING", "t", "LOAD", "1", "t", "TIMEOUT"], "ERR No value provided for TIMEOUT")
for label, v in [("zero", "0"), ("negative", "-1"), ("word", "abc"), ("2^64", I64), ("op-marker", "|>")]:
    c(f"timeout-{label}", [D, "LOAD", "1", "t", "TIMEOUT", v, "|>", "AI.TENSORGET", "t", "META"], "ERR Invalid value for TIMEOUT")
c("load-twice", [D, "LOAD", "1", "t", "LOAD", "1", "t", "|>", "AI.TENSORGET", "t"], UNEXPECTED + "LOAD")
c("routing-twice", [D, "ROUTING", "a", "ROUTING", "b", "|>", "AI.TENSORSET", "x", "FLOAT", "1"], UNEXPECTED + "ROUTING")
c("unknown-section", [D, "LOAD", "1", "t", "FOO", "|>", "AI.TENSORGET", "t"], UNEXPECTED + "FOO")
c("trailing-marker", [D, "LOAD", "1", "t", "|>", "AI.TENSORGET", "t", "META", "|>"], UNEXPECTED + "|>")
c("unexpected-utf8-invalid", [D, "LOAD", "1", "t", b"\xfe", "|>", "AI.TENSORGET", "t"], UNEXPECTED + "\ufffd")
c("no-keyword", [D, "|>", "AI.TENSORSET", "a", "FLOAT", "1", "|>", "AI.TENSORGET", "a"],
  "ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one out of ROUTING, LOAD, PERSIST keywords")
c("no-ops", [D, "LOAD", "1", "t", "ROUTING", "t"], "ERR DAG is empty")
c("op-SET", [D, "ROUTING", "t", "|>", "SET", "a", "b"], "Unsupported command within DAG")
c("op-MODELSTORE", [D, "ROUTING", "t", "|>", "AI.MODELSTORE", "m2", "ONNX", "CPU", "BLOB", "x"], "Unsupported command within DAG")
c("op-empty", [D, "ROUTING", "t", "|>", "|>", "AI.TENSORGET", "t"], "Unsupported command within DAG")
c("op-MODELRUN", [D, "LOAD", "1", "t4", "|>", "AI.MODELRUN", "m", "INPUTS", "t4", "OUTPUTS", "o"], "Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command")
c("op-SCRIPTRUN", [D, "LOAD", "1", "t4", "|>", "AI.SCRIPTRUN", "sc", "f", "INPUTS", "t4", "OUTPUTS", "o"], "Deprecated AI.SCRIPTRUN cannot be used in AI.DAGEXECUTE command")
c("input-not-loaded", [D, "ROUTING", "t", "|>", "AI.TENSORGET", "t", "META"], "ERR INPUT key cannot be found in DAG")
c("run-input-not-loaded", [D, "ROUTING", "t", "|>", "AI.MODELEXECUTE", "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"], "ERR INPUT key cannot be found in DAG")
c("op-set-arity", [D, "ROUTING", "t", "|>", "AI.TENSORSET", "a", "|>", "AI.TENSORGET", "a"], "wrong number of arguments for 'AI.TENSORSET' command")
c("op-get-arity", [D, "LOAD", "1", "t", "|>", "AI.TENSORGET"], "wrong number of arguments for 'AI.TENSORGET' command")
c("op-get-five", [D, "LOAD", "1", "t", "|>", "AI.TENSORGET", "t", "META", "BLOB", "META"], "wrong number of arguments for 'AI.TENSORGET' command")
c("op-set-shape", [D, "ROUTING", "t", "|>", "AI.TENSORSET", "a", "FLOAT", "0"], SHAPE)
c("op-set-dtype", [D, "ROUTING", "t", "|>", "AI.TENSORSET", "a", "FLOAT128", "1"], DTYPE)
c("op-set-bloblen", [D, "ROUTING", "t", "|>", "AI.TENSORSET", "a", "FLOAT", "2", "BLOB", b"abc"], DATALEN)
c("op-set-overflow", [D, "ROUTING", "t", "|>", "AI.TENSORSET", "a", "FLOAT", P32, P32], TOO_BIG_SHAPE)
c("op-set-too-large", [D, "ROUTING", "t", "|>", "AI.TENSORSET", "a", "INT8", I63M], too_large(2**63 - 1))
c("op-set-value", [D, "ROUTING", "t", "|>", "AI.TENSORSET", "a", "UINT8", "1", "VALUES", "256"], VALUE)
c("op-set-values-count", [D, "ROUTING", "t", "|>", "AI.TENSORSET", "a", "FLOAT", P40, "VALUES", "1"], NVALUES)
c("op-get-format", [D, "LOAD", "1", "t", "|>", "AI.TENSORGET", "t", "FOO"], FORMAT)
c("op-get-both", [D, "LOAD", "1", "t", "|>", "AI.TENSORGET", "t", "BLOB", "VALUES"], BOTH)
c("op-run-timeout", [D, "LOAD", "1", "t4", "|>", "AI.MODELEXECUTE", "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o", "TIMEOUT", "5"], "ERR TIMEOUT not allowed within a DAG command")
c("op-run-missing-model", [D, "LOAD", "1", "t4", "|>", "AI.MODELEXECUTE", "nokey", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"], "ERR model key is empty")
c("op-run-model-is-string", [D, "LOAD", "1", "t4", "|>", "AI.MODELEXECUTE", "s", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"], WRONGTYPE)
c("op-run-arity", [D, "LOAD", "1", "t4", "|>", "AI.MODELEXECUTE", "m", "INPUTS", "1", "t4"], XARITY)
c("op-run-inputs-2^40", [D, "LOAD", "1", "t4", "|>", "AI.MODELEXECUTE", "m", "INPUTS", P40, "t4", "OUTPUTS", "1", "o"], "Number of keys given as INPUTS here does not match model definition")
c("op-run-outputs-zero", [D, "LOAD", "1", "t4", "|>", "AI.MODELEXECUTE", "m", "INPUTS", "1", "t4", "OUTPUTS", "0", "o"], "ERR Output count must be a positive integer")
c("op-run-trailing", [D, "LOAD", "1", "t4", "|>", "AI.MODELEXECUTE", "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o", "junk"], "Invalid argument: junk")
c("op-script-missing", [D, "LOAD", "1", "t4", "|>", "AI.SCRIPTEXECUTE", "nokey", "f", "INPUTS", "1", "t4"], "ERR script key is empty")
c("op-script-is-tensor", [D, "LOAD", "1", "t4", "|>", "AI.SCRIPTEXECUTE", "t", "f", "INPUTS", "1", "t4"], WRONGTYPE)
c("in-multi", [D, "LOAD", "1", "t", "|>", "AI.TENSORGET", "t", "META"], "ERR Cannot run RedisAI command within a transaction or a LUA script", multi=True)
c = group("DAGEXECUTE_RO")
DRO = "AI.DAGEXECUTE_RO"
c("no-args", [DRO], "ERR missing arguments for 'AI.DAGEXECUTE_RO' command")
c("persist", [DRO, "PERSIST", "1", "o", "|>", "AI.TENSORSET", "o", "FLOAT", "1"], "ERR PERSIST cannot be specified in a read-only DAG")
c("script", [DRO, "LOAD", "1", "t4", "|>", "AI.SCRIPTEXECUTE", "sc", "f", "INPUTS", "1", "t4"], "ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG")
c("no-keyword", [DRO, "|>", "AI.TENSORSET", "a", "FLOAT", "1", "|>", "AI.TENSORGET", "a"],
  "ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one out of ROUTING, LOAD, PERSIST keywords")
c("unexpected", [DRO, "LOAD", "1", "t", "BOGUS", "|>", "AI.TENSORGET", "t"], UNEXPECTED + "BOGUS")
c("modelrun-op", [DRO, "LOAD", "1", "t4", "|>", "AI.MODELRUN", "m", "INPUTS", "t4", "OUTPUTS", "o"], "Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command")

# --- AI.DAGRUN / AI.DAGRUN_RO (deprecated) ---------------------------------------------------
c = group("DAGRUN")
c("three-args", ["AI.DAGRUN", "|>", "AI.TENSORGET"], arity("AI.DAGRUN"))
c("modelexecute-op", ["AI.DAGRUN", "LOAD", "1", "t4", "|>", "AI.MODELEXECUTE", "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"], "AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN command")
c("scriptexecute-op", ["AI.DAGRUN", "|>", "AI.SCRIPTEXECUTE", "sc", "f", "INPUTS", "1", "a"], "AI.SCRIPTEXECUTE cannot be used in a deprecated AI.DAGRUN command")
c("no-ops", ["AI.DAGRUN", "LOAD", "1", "t"], "ERR DAG is empty")
c("input-not-loaded", ["AI.DAGRUN", "|>", "AI.TENSORGET", "a", "META"], "ERR INPUT key cannot be found in DAG")
c("run-input-not-loaded", ["AI.DAGRUN", "|>", "AI.MODELRUN", "m", "INPUTS", "a", "OUTPUTS", "b"], "ERR INPUT key cannot be found in DAG")
c("run-timeout", ["AI.DAGRUN", "LOAD", "1", "t4", "|>", "AI.MODELRUN", "m", "TIMEOUT", "5", "INPUTS", "t4", "OUTPUTS", "o"], "ERR TIMEOUT not allowed within a DAG command")
c("run-arity", ["AI.DAGRUN", "LOAD", "1", "t4", "|>", "AI.MODELRUN", "m", "INPUTS", "t4"], arity("AI.MODELRUN"))
c("load-wrongtype", ["AI.DAGRUN", "LOAD", "1", "l", "|>", "AI.TENSORGET", "l"], WRONGTYPE)
c("persist-dup", ["AI.DAGRUN", "PERSIST", "2", "a", "a", "|>", "AI.TENSORSET", "a", "FLOAT", "1"], "ERR PERSIST keys must be unique")
c("unexpected", ["AI.DAGRUN", "GARBAGE", "|>", "AI.TENSORSET", "a", "FLOAT", "1"], UNEXPECTED + "GARBAGE")
c("in-multi", ["AI.DAGRUN", "|>", "AI.TENSORSET", "a", "FLOAT", "1"], "ERR Cannot run RedisAI command within a transaction or a LUA script", multi=True)
c = group("DAGRUN_RO")
c("three-args", ["AI.DAGRUN_RO", "|>", "AI.TENSORGET"], arity("AI.DAGRUN_RO"))
c("persist", ["AI.DAGRUN_RO", "PERSIST", "1", "a", "|>", "AI.TENSORSET", "a", "FLOAT", "1"], "ERR PERSIST cannot be specified in a read-only DAG")
c("modelexecute-op", ["AI.DAGRUN_RO", "LOAD", "1", "t4", "|>", "AI.MODELEXECUTE", "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"], "AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN command")
c("unsupported-op", ["AI.DAGRUN_RO", "|>", "DEL", "t"], "Unsupported command within DAG")

# --- AI.INFO, AI.CONFIG, AI._MODELSCAN -------------------------------------------------------
c = group("INFO")
NORUN = "ERR cannot find run info for key"
c("no-args", ["AI.INFO"], arity("AI.INFO"))
c("four-args", ["AI.INFO", "m", "RESETSTAT", "x"], arity("AI.INFO"))
c("missing", ["AI.INFO", "nokey"], NORUN)
c("missing-resetstat", ["AI.INFO", "nokey", "RESETSTAT"], NORUN)
c("tensor", ["AI.INFO", "t"], NORUN)
c("string", ["AI.INFO", "s"], NORUN)
c("empty-name", ["AI.INFO", ""], NORUN)
c("utf8-invalid", ["AI.INFO", b"m\xff"], NORUN)
c = group("CONFIG")
c("no-args", ["AI.CONFIG"], arity("AI.CONFIG"))
c("unknown", ["AI.CONFIG", "FOO"], "ERR unsupported subcommand")
c("empty", ["AI.CONFIG", ""], "ERR unsupported subcommand")
c("utf8-invalid", ["AI.CONFIG", b"\xff\xfe"], "ERR unsupported subcommand")
c("loadbackend-alone", ["AI.CONFIG", "LOADBACKEND"], arity("AI.CONFIG"))
c("loadbackend-no-path", ["AI.CONFIG", "LOADBACKEND", "ONNX"], arity("AI.CONFIG"))
c("loadbackend-unknown", ["AI.CONFIG", "LOADBACKEND", "XX", "/nonexistent.so"], BACKEND)
c("loadbackend-no-file", ["AI.CONFIG", "LOADBACKEND", "TF", "/nonexistent/redisai_tf.so"], "ERR error loading backend")
c("loadbackend-not-a-library", ["AI.CONFIG", "LOADBACKEND", "TFLITE", "/etc/hostname"], "ERR error loading backend")
c("backendspath-missing", ["AI.CONFIG", "BACKENDSPATH"], "ERR BACKENDSPATH: missing path argument")
c("backendspath-utf8-invalid", ["AI.CONFIG", "BACKENDSPATH", b"/tmp/\xff"], "ERR BACKENDSPATH: the path must be valid UTF-8")
c("chunk-missing", ["AI.CONFIG", "MODEL_CHUNK_SIZE"], "ERR MODEL_CHUNK_SIZE: missing chunk size")
for label, v in [("zero", "0"), ("negative", "-1"), ("word", "abc"), ("2^63", I63), ("fraction", "1.5"), ("empty", "")]:
    c(f"chunk-{label}", ["AI.CONFIG", "MODEL_CHUNK_SIZE", v], "ERR MODEL_CHUNK_SIZE: invalid chunk size")
c("get-alone", ["AI.CONFIG", "GET"], arity("AI.CONFIG"))
c = group("MODELSCAN")
c("one-arg", ["AI._MODELSCAN", "x"], arity("AI._MODELSCAN"))
c("two-args", ["AI._MODELSCAN", "m", "m"], arity("AI._MODELSCAN"))

# --- FT.CREATE -------------------------------------------------------------------------------
c = group("FT.CREATE")
VEC = ["v", "VECTOR"]


def flat(*attrs):
    return [*VEC, "FLAT", str(len(attrs)), *attrs]


def hnsw(*attrs):
    return [*VEC, "HNSW", str(len(attrs)), *attrs]


BASE = ["TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "L2"]
FLATW = "Bad arguments for vector similarity FLAT index"
HNSWW = "Bad arguments for vector similarity HNSW index"
MHNSW = f"{HNSWW}: M must be in 2..=512 and EF_CONSTRUCTION in 1..=4096"
EFHNSW = f"{HNSWW}: EF_RUNTIME must be in 1..=4096 and EPSILON positive"
c("no-args", ["FT.CREATE"], arity("FT.CREATE"))
c("name-only", ["FT.CREATE", "i2"], "Fields arguments are missing")
c("exists", ["FT.CREATE", "idx", "SCHEMA", "a", "TEXT"], "Index already exists")
c("exists-bad-schema", ["FT.CREATE", "idx", "SCHEMA", "a", "NOPE"], "Index already exists")
c("schema-empty", ["FT.CREATE", "i2", "SCHEMA"], "Fields arguments are missing")
c("no-schema", ["FT.CREATE", "i2", "ON", "HASH"], "Fields arguments are missing")
c("on-json", ["FT.CREATE", "i2", "ON", "JSON", "SCHEMA", "a", "TEXT"], "ON JSON needs RedisJSON (its RedisJSON_V2 API or later), which is not loaded")
c("on-unknown", ["FT.CREATE", "i2", "ON", "FOO", "SCHEMA", "a", "TEXT"], "Unknown index type `FOO`")
c("on-missing", ["FT.CREATE", "i2", "ON"], "Bad arguments for ON: missing value")
c("prefix-word", ["FT.CREATE", "i2", "PREFIX", "x", "SCHEMA", "a", "TEXT"], "Bad arguments for PREFIX: could not parse `x`")
c("prefix-negative", ["FT.CREATE", "i2", "PREFIX", "-1", "a", "SCHEMA", "a", "TEXT"], "Bad arguments for PREFIX: could not parse `-1`")
c("prefix-2^64", ["FT.CREATE", "i2", "PREFIX", I64, "a", "SCHEMA", "a", "TEXT"], f"Bad arguments for PREFIX: could not parse `{I64}`")
c("prefix-2^40", ["FT.CREATE", "i2", "PREFIX", P40, "a", "SCHEMA", "a", "TEXT"], "Bad arguments for PREFIX: not enough prefixes")
c("prefix-runs-out", ["FT.CREATE", "i2", "PREFIX", "3", "a", "b"], "Bad arguments for PREFIX: missing value")
c("score-word", ["FT.CREATE", "i2", "SCORE", "abc", "SCHEMA", "a", "TEXT"], "Invalid score")
c("filter", ["FT.CREATE", "i2", "FILTER", "@a==1", "SCHEMA", "a", "TEXT"], "FILTER expressions on FT.CREATE are not supported")
c("unknown-option", ["FT.CREATE", "i2", "FOO", "SCHEMA", "a", "TEXT"], "Unknown argument `FOO`")
c("unknown-utf8-invalid", ["FT.CREATE", "i2", b"\xff", "SCHEMA", "a", "TEXT"], "Unknown argument `\ufffd`")
c("stopwords-word", ["FT.CREATE", "i2", "STOPWORDS", "x", "SCHEMA", "a", "TEXT"], "Bad arguments for STOPWORDS: could not parse `x`")
c("stopwords-2^40", ["FT.CREATE", "i2", "STOPWORDS", P40, "a", "SCHEMA", "a", "TEXT"], "Bad arguments for STOPWORDS: not enough words")
c("language-missing", ["FT.CREATE", "i2", "LANGUAGE"], "Bad arguments for LANGUAGE: missing value")
c("field-no-type", ["FT.CREATE", "i2", "SCHEMA", "a"], "Field `a` does not have a type")
c("field-bad-type", ["FT.CREATE", "i2", "SCHEMA", "a", "FOO"], "Invalid field type for field `a`")
c("field-geoshape", ["FT.CREATE", "i2", "SCHEMA", "a", "GEOSHAPE"], "Field `a`: GEOSHAPE fields are not supported")
c("field-geo-indexempty", ["FT.CREATE", "i2", "SCHEMA", "a", "GEO", "INDEXEMPTY"], "Field `INDEXEMPTY` does not have a type")
c("field-duplicate", ["FT.CREATE", "i2", "SCHEMA", "a", "TEXT", "a", "TAG"], "Duplicate field in schema - a")
c("field-duplicate-alias", ["FT.CREATE", "i2", "SCHEMA", "a", "TEXT", "b", "AS", "a", "NUMERIC"], "Duplicate field in schema - a")
c("as-missing", ["FT.CREATE", "i2", "SCHEMA", "a", "AS"], "Bad arguments for AS: missing value")
c("weight-word", ["FT.CREATE", "i2", "SCHEMA", "a", "TEXT", "WEIGHT", "abc"], "Bad arguments for WEIGHT: could not parse `abc`")
c("weight-missing", ["FT.CREATE", "i2", "SCHEMA", "a", "TEXT", "WEIGHT"], "Bad arguments for WEIGHT: missing value")
c("separator-long", ["FT.CREATE", "i2", "SCHEMA", "a", "TAG", "SEPARATOR", "ab"], "Tag separator must be a single character. Got `ab`")
c("separator-empty", ["FT.CREATE", "i2", "SCHEMA", "a", "TAG", "SEPARATOR", ""], "Tag separator must be a single character. Got ``")
c("vector-no-algorithm", ["FT.CREATE", "i2", "SCHEMA", *VEC], "Bad arguments for VECTOR: missing value")
c("vector-unknown-algorithm", ["FT.CREATE", "i2", "SCHEMA", *VEC, "IVF", "6", *BASE], "Bad arguments for vector similarity algorithm: unknown algorithm `IVF`")
c("vector-svs", ["FT.CREATE", "i2", "SCHEMA", *VEC, "SVS-VAMANA", "6", *BASE], "Bad arguments for vector similarity algorithm: SVS-VAMANA is not supported")
c("vector-nargs-word", ["FT.CREATE", "i2", "SCHEMA", *VEC, "FLAT", "x", *BASE], f"{FLATW}: could not parse `x`")
c("vector-nargs-negative", ["FT.CREATE", "i2", "SCHEMA", *VEC, "FLAT", "-6", *BASE], f"{FLATW}: could not parse `-6`")
c("vector-nargs-odd", ["FT.CREATE", "i2", "SCHEMA", *VEC, "FLAT", "5", *BASE[:5]], f"{FLATW}: odd number of attribute tokens")
c("vector-nargs-2^40", ["FT.CREATE", "i2", "SCHEMA", *VEC, "FLAT", P40, *BASE], f"{FLATW}: missing value")
c("vector-nargs-short", ["FT.CREATE", "i2", "SCHEMA", *VEC, "FLAT", "8", *BASE], f"{FLATW}: missing value")
MISSING_TDM = f"{FLATW}: missing TYPE, DIM or DISTANCE_METRIC for field `v`"
c("vector-dim-zero", ["FT.CREATE", "i2", "SCHEMA", *flat("TYPE", "FLOAT32", "DIM", "0", "DISTANCE_METRIC", "L2")], MISSING_TDM)
c("vector-no-dim", ["FT.CREATE", "i2", "SCHEMA", *flat("TYPE", "FLOAT32", "DISTANCE_METRIC", "L2")], MISSING_TDM)
c("vector-no-type", ["FT.CREATE", "i2", "SCHEMA", *flat("DIM", "2", "DISTANCE_METRIC", "L2")], MISSING_TDM)
c("vector-no-metric", ["FT.CREATE", "i2", "SCHEMA", *flat("TYPE", "FLOAT32", "DIM", "2")], MISSING_TDM)
c("vector-dim-negative", ["FT.CREATE", "i2", "SCHEMA", *flat("TYPE", "FLOAT32", "DIM", "-1", "DISTANCE_METRIC", "L2")], f"{FLATW}: could not parse `-1`")
c("vector-dim-2^64", ["FT.CREATE", "i2", "SCHEMA", *flat("TYPE", "FLOAT32", "DIM", I64, "DISTANCE_METRIC", "L2")], f"{FLATW}: could not parse `{I64}`")
c("vector-dim-u64-max", ["FT.CREATE", "i2", "SCHEMA", *flat("TYPE", "FLOAT32", "DIM", U64M, "DISTANCE_METRIC", "L2")], f"{FLATW}: DIM must be at most 65536")
c("vector-dim-65537", ["FT.CREATE", "i2", "SCHEMA", *hnsw("TYPE", "FLOAT32", "DIM", "65537", "DISTANCE_METRIC", "L2")], f"{HNSWW}: DIM must be at most 65536")
c("vector-type-unknown", ["FT.CREATE", "i2", "SCHEMA", *flat("TYPE", "INT7", "DIM", "2", "DISTANCE_METRIC", "L2")], "Bad arguments for vector similarity number type: `INT7`")
c("vector-type-empty", ["FT.CREATE", "i2", "SCHEMA", *flat("TYPE", "", "DIM", "2", "DISTANCE_METRIC", "L2")], "Bad arguments for vector similarity number type: ``")
c("vector-metric-unknown", ["FT.CREATE", "i2", "SCHEMA", *flat("TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "MANHATTAN")], "Bad arguments for vector similarity metric: `MANHATTAN`")
c("hnsw-m-zero", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "M", "0")], MHNSW)
c("hnsw-m-one", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "M", "1")], MHNSW)
c("hnsw-m-513", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "M", "513")], MHNSW)
c("hnsw-m-negative", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "M", "-16")], f"{HNSWW}: could not parse `-16`")
c("hnsw-efc-zero", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "EF_CONSTRUCTION", "0")], MHNSW)
c("hnsw-efc-huge", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "EF_CONSTRUCTION", U64M)], MHNSW)
c("hnsw-efr-zero", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "EF_RUNTIME", "0")], EFHNSW)
c("hnsw-epsilon-zero", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "EPSILON", "0")], EFHNSW)
c("hnsw-epsilon-nan", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "EPSILON", "nan")], EFHNSW)
c("hnsw-epsilon-inf", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "EPSILON", "inf")], EFHNSW)
c("flat-with-m", ["FT.CREATE", "i2", "SCHEMA", *flat(*BASE, "M", "16")], f"{FLATW}: unknown argument `M` for field `v`")
c("hnsw-with-block-size", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "BLOCK_SIZE", "16")], f"{HNSWW}: unknown argument `BLOCK_SIZE` for field `v`")
c("initial-cap-2^64", ["FT.CREATE", "i2", "SCHEMA", *hnsw(*BASE, "INITIAL_CAP", I64)], f"{HNSWW}: could not parse `{I64}`")
c("dim-twice-bad", ["FT.CREATE", "i2", "SCHEMA", *flat(*BASE, "DIM", "0")], MISSING_TDM)

# --- FT.SEARCH -------------------------------------------------------------------------------
c = group("FT.SEARCH")
S = ["FT.SEARCH", "idx"]
KNN = "*=>[KNN 2 @v $vec]"


def blob_size(n, expected=8):
    return f"Error parsing vector similarity query: query vector blob size ({n}) does not match index's expected size ({expected})"


c("no-args", ["FT.SEARCH"], arity("FT.SEARCH"))
c("no-query", ["FT.SEARCH", "idx"], arity("FT.SEARCH"))
c("unknown-index", ["FT.SEARCH", "nope", "*"], "nope: no such index")
c("index-is-a-key", ["FT.SEARCH", "s", "*"], "s: no such index")
c("index-empty-name", ["FT.SEARCH", "", "*"], ": no such index")
c("syntax-open-paren", [*S, "("], "Syntax error at offset 1 near end of query")
c("syntax-close-paren", [*S, ")"], "Syntax error at offset 0 near )")
c("syntax-field-only", [*S, "@tag"], "Syntax error at offset 4 near end of query")
c("syntax-bar", [*S, "|"], "Syntax error at offset 0 near |")
c("syntax-trailing-bar", [*S, "a |"], "Syntax error at offset 3 near end of query")
c("syntax-minus", [*S, "-"], "Syntax error at offset 1 near end of query")
c("syntax-quote-open", [*S, '"unterminated'], 'Syntax error at offset 0 near "')
c("syntax-fuzzy-4", [*S, "%%%%abc%%%%"], "Syntax error at offset 0 near %")
c("syntax-tag-open", [*S, "@tag:{a"], "Syntax error at offset 5 near {")
c("syntax-tag-open-escape", [*S, "@tag:{a\\"], "Syntax error at offset 5 near {")
c("syntax-tag-empty", [*S, "@tag:{}"], "Syntax error at offset 6 near }")
c("syntax-tag-star", [*S, "@tag:{*}"], "Syntax error at offset 6 near *")
c("syntax-tag-trailing-bar", [*S, "@tag:{a|}"], "Syntax error at offset 8 near }")
c("tag-param-empty", [*S, "@tag:{$p}", "PARAMS", "2", "p", ""], "Syntax error at offset 6 near $p")
c("tag-param-missing", [*S, "@tag:{$p}"], "No such parameter `p`")
c("range-param-paren-only", [*S, "@n:[$lo 10]", "PARAMS", "2", "lo", "("], "Invalid numeric value () for parameter `lo`")
c("ismissing-not-indexed", [*S, "ismissing(@tag)"], "'ismissing' requires field 'tag' to be defined with 'INDEXMISSING'")
c("tag-as-text", [*S, "@tag:hello"], "Syntax error at offset 0 near tag: TAG field used where a TEXT field is expected")
c("syntax-tag-double-bar", [*S, "@tag:{a||b}"], "Syntax error at offset 8 near |")
c("syntax-range-open", [*S, "@n:[1"], "Syntax error at offset 5 near end of query")
c("syntax-range-word", [*S, "@n:[abc 1]"], "Syntax error at offset 4 near abc")
c("syntax-range-nan", [*S, "@n:[nan 1]"], "Syntax error at offset 4 near nan")
c("syntax-range-empty", [*S, "@n:[]"], "Syntax error at offset 4 near ]")
c("unknown-field", [*S, "@nofield:{a}"], "Unknown field at offset 0 near nofield")
c("unknown-field-utf8-invalid", [*S, b"@\xff:{a}"], "Unknown field at offset 0 near \ufffd")
c("numeric-as-tag", [*S, "@n:{x}"], "Syntax error at offset 0 near n: NUMERIC field used where a TAG field is expected")
c("tag-as-numeric", [*S, "@tag:[1 2]"], "Syntax error at offset 0 near tag: TAG field used where a NUMERIC field is expected")
c("nesting-1000", [*S, "(" * 1000 + "a" + ")" * 1000], "Parser stack overflow. Try moving nested parentheses more to the left")
c("trailing-garbage", [*S, "@tag:{a} ]"], "Syntax error at offset 9 near ]")
c("knn-no-params", [*S, KNN], "No such parameter `vec`")
c("knn-blob-minus1", [*S, KNN, "PARAMS", "2", "vec", F2[:7]], blob_size(7))
c("knn-blob-plus1", [*S, KNN, "PARAMS", "2", "vec", F2 + b"\x00"], blob_size(9))
c("knn-blob-empty", [*S, KNN, "PARAMS", "2", "vec", b""], blob_size(0))
c("knn-blob-double", [*S, KNN, "PARAMS", "2", "vec", np.array([1, 2], np.float64).tobytes()], blob_size(16))
c("knn-hnsw-blob-minus1", ["FT.SEARCH", "hidx", "*=>[KNN 1 @v $vec]", "PARAMS", "2", "vec", F2[:7]], blob_size(7))
c("range-blob-short", [*S, "@v:[VECTOR_RANGE 1 $vec]", "PARAMS", "2", "vec", F2[:4]], blob_size(4))
c("range-radius-word", [*S, "@v:[VECTOR_RANGE abc $vec]", "PARAMS", "2", "vec", F2], "Syntax error at offset 17 near abc")
c("range-on-tag", [*S, "@tag:[VECTOR_RANGE 1 $vec]", "PARAMS", "2", "vec", F2], "Syntax error at offset 0 near tag: TAG field used where a VECTOR field is expected")
c("knn-negative-k", [*S, "*=>[KNN -1 @v $vec]", "PARAMS", "2", "vec", F2], "Syntax error at offset 8 near -")
c("knn-k-2^64", [*S, f"*=>[KNN {I64} @v $vec]", "PARAMS", "2", "vec", F2], "Syntax error at offset 8 near 18446744073709551616")
c("knn-k-param-word", [*S, "*=>[KNN $k @v $vec]", "PARAMS", "4", "vec", F2, "k", "abc"], "Invalid numeric value (abc) for parameter `k`")
c("knn-k-param-negative", [*S, "*=>[KNN $k @v $vec]", "PARAMS", "4", "vec", F2, "k", "-3"], "Invalid numeric value (-3) for parameter `k`")
c("knn-on-tag", [*S, "*=>[KNN 2 @tag $vec]", "PARAMS", "2", "vec", F2], "Syntax error at offset 10 near tag: TAG field used where a VECTOR field is expected")
c("knn-unknown-field", [*S, "*=>[KNN 2 @nope $vec]", "PARAMS", "2", "vec", F2], "Unknown field at offset 10 near nope")
c("knm", [*S, "*=>[KNM 2 @v $vec]", "PARAMS", "2", "vec", F2], "Syntax error at offset 4 near KNM: Expecting Vector Similarity command")
c("knn-ef-zero", [*S, "*=>[KNN 2 @v $vec EF_RUNTIME 0]", "PARAMS", "2", "vec", F2], "Invalid value (0) for EF_RUNTIME")
c("knn-epsilon-negative", [*S, "*=>[KNN 2 @v $vec EPSILON -1]", "PARAMS", "2", "vec", F2], "Invalid value (-1) for EPSILON")
c("knn-hybrid-policy", [*S, "*=>[KNN 2 @v $vec HYBRID_POLICY FAST]", "PARAMS", "2", "vec", F2], "Invalid value (FAST) for HYBRID_POLICY")
c("knn-unknown-option", [*S, "*=>[KNN 2 @v $vec BOGUS 1]", "PARAMS", "2", "vec", F2], "Error parsing vector similarity parameters: unknown parameter `BOGUS`")
c("knn-unterminated", [*S, "*=>[KNN 2 @v $vec", "PARAMS", "2", "vec", F2], "Syntax error at offset 17 near end of query")
c("knn-twice", [*S, "*=>[KNN 2 @v $vec]=>[KNN 2 @v $vec]", "PARAMS", "2", "vec", F2], "Syntax error at offset 20 near [")
c("knn-bad-attribute", [*S, "*=>[KNN 2 @v $vec]=>{$weight: 1}", "PARAMS", "2", "vec", F2], "Invalid attribute weight")
c("params-odd", [*S, "*", "PARAMS", "3", "a", "b", "c"], "Bad arguments for PARAMS: expected an even number of arguments")
c("params-short", [*S, "*", "PARAMS", "4", "a", "b"], "Bad arguments for PARAMS: expected an even number of arguments")
c("params-2^40", [*S, "*", "PARAMS", P40, "a", "b"], "Bad arguments for PARAMS: invalid count")
c("params-negative", [*S, "*", "PARAMS", "-2", "a", "b"], "Bad arguments for PARAMS: invalid count")
c("params-missing-count", [*S, "*", "PARAMS"], "Bad arguments for PARAMS: missing count")
c("limit-one-number", [*S, "*", "LIMIT", "0"], "Bad arguments for LIMIT")
c("limit-negative", [*S, "*", "LIMIT", "-1", "10"], "Bad arguments for LIMIT")
c("limit-2^64", [*S, "*", "LIMIT", "0", I64], "Bad arguments for LIMIT")
c("sortby-missing", [*S, "*", "SORTBY"], "Bad arguments for SORTBY")
c("sortby-unknown", [*S, "*", "SORTBY", "nofield"], "Property `nofield` not loaded nor in schema")
c("return-missing", [*S, "*", "RETURN"], "Bad arguments for RETURN: missing count")
c("return-word", [*S, "*", "RETURN", "x"], "Bad arguments for RETURN: invalid count")
c("return-short", [*S, "*", "RETURN", "3", "a"], "Bad arguments for RETURN: not enough fields")
c("return-2^40", [*S, "*", "RETURN", P40, "a"], "Bad arguments for RETURN: invalid count")
c("return-as-dangling", [*S, "*", "RETURN", "2", "a", "AS"], "Bad arguments for RETURN: AS needs a name")
c("dialect-5", [*S, "*", "DIALECT", "5"], "DIALECT requires a non negative integer >=1 and <= 4")
c("dialect-0", [*S, "*", "DIALECT", "0"], "DIALECT requires a non negative integer >=1 and <= 4")
c("dialect-word", [*S, "*", "DIALECT", "x"], "Bad arguments for DIALECT")
c("dialect-missing", [*S, "*", "DIALECT"], "Bad arguments for DIALECT")
c("unknown-option", [*S, "*", "FOO"], "Unknown argument `FOO`")
c("infields", [*S, "*", "INFIELDS", "1", "title"], "INFIELDS is not supported")
c("timeout-missing", [*S, "*", "TIMEOUT"], "Need argument for TIMEOUT")
c("filter-short", [*S, "*", "FILTER", "n", "1"], "Bad arguments for FILTER")
c("filter-unknown-field", [*S, "*", "FILTER", "nofield", "1", "2"], "Unknown field at offset 4 near nofield")
c("inkeys-count-past-end", [*S, "*", "INKEYS", "5", "doc:1"], "Bad arguments for INKEYS: invalid count")
c("inkeys-short", [*S, "*", "INKEYS", "3", "doc:1"], "Bad arguments for INKEYS: not enough keys")
c("geofilter-short", [*S, "*", "GEOFILTER", "v", "1", "2"], "GEOFILTER requires 5 arguments")
c("geofilter-unit", [*S, "*", "GEOFILTER", "v", "1", "2", "3", "yd"], "Unknown distance unit yd")
c("geofilter-lon", [*S, "*", "GEOFILTER", "v", "x", "2", "3", "km"],
  "Bad arguments for <lon>: Could not convert argument to expected type")
c("geofilter-center", [*S, "*", "GEOFILTER", "v", "1", "89", "3", "km"], "Invalid GeoFilter lat/lon")
c("geofilter-radius", [*S, "*", "GEOFILTER", "v", "1", "2", "0", "km"], "Invalid GeoFilter radius")
c("highlight-tags-short", [*S, "hello", "HIGHLIGHT", "TAGS", "<b>"], "Bad arguments for HIGHLIGHT")
c("highlight-fields-word", [*S, "hello", "HIGHLIGHT", "FIELDS", "x"], "Bad arguments for HIGHLIGHT")
c("highlight-fields-2^40", [*S, "hello", "HIGHLIGHT", "FIELDS", P40, "title"], "Bad arguments for HIGHLIGHT")
c("highlight-unknown-field", [*S, "hello", "HIGHLIGHT", "FIELDS", "1", "nofield"], "No such property `nofield`")
c("summarize-len-negative", [*S, "hello", "SUMMARIZE", "LEN", "-1"], "Bad arguments for SUMMARIZE")
c("summarize-len-2^32", [*S, "hello", "SUMMARIZE", "LEN", "4294967296"], "Bad arguments for SUMMARIZE")
c("summarize-frags-word", [*S, "hello", "SUMMARIZE", "FRAGS", "x"], "Bad arguments for SUMMARIZE")
c("summarize-separator-missing", [*S, "hello", "SUMMARIZE", "SEPARATOR"], "Bad arguments for SUMMARIZE")
c("language-chinese", [*S, "hello", "LANGUAGE", "chinese"],
  "LANGUAGE chinese is not supported: this module has no Chinese tokenizer")
c("language-unknown", [*S, "hello", "LANGUAGE", "klingon"], "No such language")
c("limit-past-maxsearchresults", [*S, "*", "LIMIT", "0", "1000001"], "LIMIT exceeds maximum of 1000000")

# --- FT.PROFILE, FT.GET, FT.MGET, FT.DEBUG, FT.CONFIG ------------------------------------------
c = group("FT.PROFILE")
c("no-args", ["FT.PROFILE"], arity("FT.PROFILE"))
c("short", ["FT.PROFILE", "idx", "SEARCH", "QUERY"], arity("FT.PROFILE"))
c("no-command", ["FT.PROFILE", "idx", "FOO", "QUERY", "*"], "No `SEARCH` or `AGGREGATE` provided")
c("no-query-keyword", ["FT.PROFILE", "idx", "SEARCH", "LIMITED", "*"], "The QUERY keyword is expected")
c("no-query-string", ["FT.PROFILE", "idx", "SEARCH", "LIMITED", "QUERY"], "No query string provided")
c("unknown-index", ["FT.PROFILE", "nope", "SEARCH", "QUERY", "*"], "nope: no such index")
c("aggregate-bad-step", ["FT.PROFILE", "idx", "AGGREGATE", "QUERY", "*", "GROUPBY", "1", "x"],
  "Bad arguments for GROUPBY: Unknown property `x`. Did you mean `@x`?")
c("bad-search-option", ["FT.PROFILE", "idx", "SEARCH", "QUERY", "*", "LIMIT", "0"], "Bad arguments for LIMIT")
c = group("FT.GET")
c("no-args", ["FT.GET"], arity("FT.GET"))
c("extra", ["FT.GET", "idx", "doc:1", "x"], arity("FT.GET"))
c("unknown-index", ["FT.GET", "nope", "doc:1"], "Unknown Index name")
c = group("FT.MGET")
c("no-keys", ["FT.MGET", "idx"], arity("FT.MGET"))
c("unknown-index", ["FT.MGET", "nope", "doc:1"], "Unknown Index name")
c = group("FT.DEBUG")
c("no-args", ["FT.DEBUG"], arity("FT.DEBUG"))
c("unknown-sub", ["FT.DEBUG", "GC_FORCEINVOKE", "idx"], "ERR unknown subcommand 'GC_FORCEINVOKE'. Try FT.DEBUG HELP.")
c("ttl-not-temporary", ["FT.DEBUG", "TTL", "idx"], "Index is not temporary")
c("ttl-unknown", ["FT.DEBUG", "TTL", "nope"], "Unknown index name")
c = group("FT.CONFIG")
c("set-bounds", ["FT.CONFIG", "SET", "TIMEOUT", "-1"], "Value is outside acceptable bounds")
c("set-word", ["FT.CONFIG", "SET", "MAXSEARCHRESULTS", "x"], "Could not convert argument to expected type")
c("set-fixed", ["FT.CONFIG", "SET", "NOGC", "true"], "Not modifiable at runtime")
c("set-on-timeout", ["FT.CONFIG", "SET", "ON_TIMEOUT", "maybe"], "Invalid ON_TIMEOUT value")
c("set-unknown", ["FT.CONFIG", "SET", "WORKERS", "4"], "Invalid option")
c = group("FT.CREATE")
c("temporary-word", ["FT.CREATE", "t0", "TEMPORARY", "x", "SCHEMA", "a", "TEXT"],
  "Bad arguments for TEMPORARY: Could not convert argument to expected type")
c("language-chinese", ["FT.CREATE", "t0", "LANGUAGE", "chinese", "SCHEMA", "a", "TEXT"],
  "LANGUAGE chinese is not supported: this module has no Chinese tokenizer")
c("language-unknown", ["FT.CREATE", "t0", "LANGUAGE", "klingon", "SCHEMA", "a", "TEXT"], "Invalid language")

# --- FT.INFO, FT.DROPINDEX, FT._LIST ---------------------------------------------------------
c = group("FT.INFO")
c("no-args", ["FT.INFO"], arity("FT.INFO"))
c("extra", ["FT.INFO", "idx", "x"], arity("FT.INFO"))
c("unknown", ["FT.INFO", "nope"], "Unknown index name")
c("empty-name", ["FT.INFO", ""], "Unknown index name")
c("key-not-index", ["FT.INFO", "doc:1"], "Unknown index name")
c = group("FT.DROPINDEX")
c("no-args", ["FT.DROPINDEX"], arity("FT.DROPINDEX"))
c("four-args", ["FT.DROPINDEX", "idx", "DD", "x"], arity("FT.DROPINDEX"))
c("unknown", ["FT.DROPINDEX", "nope"], "Unknown index name")
c("unknown-dd", ["FT.DROPINDEX", "nope", "DD"], "Unknown index name")
c("bad-option", ["FT.DROPINDEX", "idx", "XX"], "Unknown argument `XX`")
c("bad-option-dd2", ["FT.DROPINDEX", "idx", "DD2"], "Unknown argument `DD2`")
c("utf8-invalid-name", ["FT.DROPINDEX", b"idx\xff"], "Unknown index name")
c("other-utf8-invalid-name", ["FT.DROPINDEX", b"u\xfe"], "Unknown index name")
c = group("FT.INFO")
c("other-utf8-invalid-name", ["FT.INFO", b"u\xfe"], "Unknown index name")
c = group("FT.SEARCH")
c("other-utf8-invalid-name", ["FT.SEARCH", b"u\xfe", "*"], "u\ufffd: no such index")
c = group("FT.ALIASADD")
c("no-args", ["FT.ALIASADD"], arity("FT.ALIASADD"))
c("one-arg", ["FT.ALIASADD", "al"], arity("FT.ALIASADD"))
c("three-args", ["FT.ALIASADD", "al", "idx", "x"], arity("FT.ALIASADD"))
c("unknown-index", ["FT.ALIASADD", "al", "nope"], "Unknown index name (or name is an alias itself)")
c("utf8-invalid-alias", ["FT.ALIASADD", b"a\xff", "idx"], "Unknown index name (or name is an alias itself)")
c("utf8-invalid-index", ["FT.ALIASADD", "al", b"idx\xff"], "Unknown index name (or name is an alias itself)")
c = group("FT.ALIASUPDATE")
c("one-arg", ["FT.ALIASUPDATE", "al"], arity("FT.ALIASUPDATE"))
c("unknown-index", ["FT.ALIASUPDATE", "al", "nope"], "Unknown index name (or name is an alias itself)")
c = group("FT.ALIASDEL")
c("no-args", ["FT.ALIASDEL"], arity("FT.ALIASDEL"))
c("two-args", ["FT.ALIASDEL", "al", "x"], arity("FT.ALIASDEL"))
c("unknown", ["FT.ALIASDEL", "nope"], "Alias does not exist")
c("index-name", ["FT.ALIASDEL", "idx"], "Alias does not belong to provided spec")
c("utf8-invalid", ["FT.ALIASDEL", b"a\xfe"], "Alias does not exist")
c = group("FT._LIST")
c("one-arg", ["FT._LIST", "x"], arity("FT._LIST"))
c("two-args", ["FT._LIST", "idx", "hidx"], arity("FT._LIST"))

# --- AI.PIPELINE (stream-triggered pipelines) -------------------------------------------------
c = group("PIPELINE")
PIPE_HEAD = ["AI.PIPELINE", "ADD", "pp", "STREAM", "pst", "FIELD", "x", "INPUT", "x", "FLOAT", "4"]
PIPE_TAIL = ["OUTPUT", "STREAM", "pso", "OUTPUTS", "1", "o", "DAG", "|>", "AI.MODELEXECUTE", "m",
             "INPUTS", "1", "x", "OUTPUTS", "1", "o"]
c("no-args", ["AI.PIPELINE"], arity("AI.PIPELINE"))
c("unknown-subcommand", ["AI.PIPELINE", "NOPE"], "ERR unknown subcommand 'NOPE'. Try ADD, DEL, LIST or INFO")
c("add-no-name", ["AI.PIPELINE", "ADD"], arity("AI.PIPELINE"))
c("add-no-dag", PIPE_HEAD + PIPE_TAIL[:6], "ERR a pipeline needs DAG |> <op> ...")
c("batch-huge", PIPE_HEAD + ["BATCH", I63] + PIPE_TAIL, "ERR BATCH must be an integer between 1 and 10000")
c("batch-zero", PIPE_HEAD + ["BATCH", "0"] + PIPE_TAIL, "ERR BATCH must be an integer between 1 and 10000")
c("latency-negative", PIPE_HEAD + ["MAXLATENCY", "-1"] + PIPE_TAIL,
  "ERR MAXLATENCY must be an integer between 0 and 3600000")
c("inflight-huge", PIPE_HEAD + ["MAXINFLIGHT", U64M] + PIPE_TAIL,
  "ERR MAXINFLIGHT must be an integer between 1 and 64")
c("outputs-count-huge", PIPE_HEAD + ["OUTPUT", "STREAM", "pso", "OUTPUTS", I63, "o"],
  "ERR OUTPUTS must be an integer between 1 and 64")
c("input-dims-overflow", PIPE_HEAD[:-1] + [P32, P32] + PIPE_TAIL, "ERR tensor shape is too large")
c("stream-wrongtype", ["AI.PIPELINE", "ADD", "pp", "STREAM", "s"] + PIPE_HEAD[5:] + PIPE_TAIL, WRONGTYPE)
c("output-wrongtype", PIPE_HEAD + ["OUTPUT", "STREAM", "h"] + PIPE_TAIL[3:], WRONGTYPE)
c("output-is-input", PIPE_HEAD + ["OUTPUT", "STREAM", "pst"] + PIPE_TAIL[3:],
  "ERR the output stream cannot be the pipeline's own stream")
c("model-missing", PIPE_HEAD + PIPE_TAIL[:9] + ["nokey"] + PIPE_TAIL[10:], "ERR model key is empty")
c("dag-persist", PIPE_HEAD + PIPE_TAIL[:7] + ["PERSIST", "1", "o"] + PIPE_TAIL[7:],
  "ERR a pipeline's DAG cannot PERSIST, AI.HSET or AI.FTSEARCH: its results go to OUTPUT")
c("addas-from-client", ["AI.PIPELINE", "ADDAS", "default"] + PIPE_HEAD[2:] + PIPE_TAIL,
  "ERR ADDAS is only replayed from a master or the AOF; use ADD")
c("del-unknown", ["AI.PIPELINE", "DEL", "nope"], "ERR no such pipeline")
c("info-unknown", ["AI.PIPELINE", "INFO", "nope"], "ERR no such pipeline")
c("list-extra", ["AI.PIPELINE", "LIST", "x"], arity("AI.PIPELINE"))


def params():
    out = []
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def test_table_covers_every_command():
    groups = Counter(case.group for case in CASES)
    assert len(CASES) >= 200, len(CASES)
    for command in [
        "TENSORSET", "TENSORGET", "MODELSTORE", "MODELSET", "MODELGET", "MODELDEL", "MODELEXECUTE",
        "MODELRUN", "DAGEXECUTE", "DAGEXECUTE_RO", "DAGRUN", "DAGRUN_RO", "INFO", "CONFIG", "MODELSCAN",
        "FT.CREATE", "FT.SEARCH", "FT.INFO", "FT.DROPINDEX", "FT._LIST", "FT.ALIASADD",
        "FT.ALIASUPDATE", "FT.ALIASDEL", "PIPELINE", "FT.PROFILE", "FT.GET", "FT.MGET", "FT.DEBUG", "FT.CONFIG",
    ]:
        assert groups[command] >= 2, command
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]


@pytest.mark.parametrize("case", params())
def test_bad_command(env, case):
    env.ready()
    before = env.baseline
    log_start = len(env.log())
    if case.multi:
        p = env.r.pipeline(transaction=True)
        p.execute_command(*case.argv)
        (reply,) = p.execute(raise_on_error=False)
    else:
        try:
            reply = env.r.execute_command(*case.argv)
        except redis.ResponseError as e:
            reply = e
    assert env.server.alive(), f"the server died:\n{env.log()[log_start:]}"
    new_log = env.log()[log_start:]
    assert not panics(new_log), new_log
    assert isinstance(reply, redis.ResponseError), f"expected an error, got {reply!r:.300}"
    assert str(reply) == shown(case.error)
    after = snapshot(env.r)
    if case.runs:
        # A run that fails in the backend counts one call and one error, nothing else.
        (calls, errors, samples), = before["stats"].values()
        assert after["stats"] == {b"m": (calls + 1, errors + 1, samples)}
        after["stats"] = before["stats"]
    assert after == before


def test_non_utf8_index_and_field_names_are_refused(env):
    """Names are text: a lossy conversion would make b'u\\xfe' and b'u\\xff' one index."""
    env.ready()
    r = env.r
    before = snapshot(r)
    for argv, text in (
        (["FT.CREATE", BIN_INDEX, "PREFIX", "1", "nomatch:", "SCHEMA", "a", "TEXT"],
         "Index name is not valid UTF-8: `u\ufffd`"),
        (["FT.CREATE", "bf", "PREFIX", "1", "bf:", "SCHEMA", b"\xfe", "TAG", b"\xff", "TAG"],
         "Field name is not valid UTF-8: `\ufffd`"),
        (["FT.CREATE", "bf", "PREFIX", "1", "bf:", "SCHEMA", "a", "AS", b"\xfe", "TAG"],
         "Field name is not valid UTF-8: `\ufffd`"),
    ):
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command(*argv)
        assert str(e.value) == text
    assert snapshot(r) == before
    assert not panics(env.log())


# ---------------------------------------------------------------------------------------------
# Part 2: seeded random commands.

RANDOM_COMMANDS = 100_000
BATCH = 1000
F4 = np.array([1, 2, 3, 4], np.float32).tobytes()

KEYWORDS = [
    "BLOB", "VALUES", "META", "TAG", "BATCHSIZE", "MINBATCHTIMEOUT", "INPUTS", "OUTPUTS", "TIMEOUT",
    "LOAD", "PERSIST", "ROUTING", "|>", "RESETSTAT", "GET", "LOADBACKEND", "BACKENDSPATH",
    "MODEL_CHUNK_SIZE", "AI.TENSORSET", "AI.TENSORGET", "AI.MODELEXECUTE", "AI.MODELRUN",
    "AI.SCRIPTEXECUTE", "AI.SCRIPTRUN", "AI.MODELSTORE", "ON", "HASH", "JSON", "PREFIX", "SCORE",
    "SCHEMA", "TEXT", "TAG", "NUMERIC", "VECTOR", "FLAT", "HNSW", "SVS-VAMANA", "TYPE", "DIM",
    "DISTANCE_METRIC", "L2", "IP", "COSINE", "M", "EF_CONSTRUCTION", "EF_RUNTIME", "EPSILON",
    "INITIAL_CAP", "BLOCK_SIZE", "SEPARATOR", "SORTABLE", "NOINDEX", "AS", "WEIGHT", "STOPWORDS",
    "SKIPINITIALSCAN", "PARAMS", "LIMIT", "SORTBY", "ASC", "DESC", "RETURN", "NOCONTENT",
    "WITHSCORES", "DIALECT", "INKEYS", "FILTER", "DD", "KNN",
    "AI.POOL", "AI.HSET", "AI.FTSEARCH", "MEAN", "NORMALIZE", "FIELDS", "TOKENIZER",
    "ADD", "ADDAS", "DEL", "LIST", "INFO", "STREAM", "FIELD", "INPUT", "GROUP", "BATCH",
    "MAXLATENCY", "MAXINFLIGHT", "OUTPUT", "MAXLEN", "DAG",
    # No MINBATCHSIZE: a model with MINBATCHSIZE and no MINBATCHTIMEOUT may legitimately keep
    # a run waiting forever (spec §5); the table covers its parsing.
]
TYPES = [
    "FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "BOOL", "STRING",
    "UINT32", "INT128", "float", "FLOAT32", "FLOAT64", "FLOAT16", "BFLOAT16", "ONNX", "TF",
    "TFLITE", "TORCH", "onnx", "CPU", "GPU", "cpu:0", "CPU:", "CPU::", "GPU:1",
]
NUMBERS = [
    "0", "1", "2", "3", "4", "5", "-1", "-2", "7", "16", "255", "256", "32768", "65535", "65536",
    "2147483648", P32, P40, I63M, I63, NEG63, NEG63M, I64, U64M, "1.5", "-0", "01", "+1", "1e3",
    "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "1e39", "0x10", "", " 1", "1 ",
]
KEYS = [
    "t", "t4", "t8", "ts", "m", "s", "l", "h", "doc:1", "doc:2", "doc:3", "hd:1", "hd:2", "k0",
    "k1", "k2", "mk0", "mk1", "o", "a", "b", "nokey", "idx", "hidx", "ix0", "ix1",
]
QUERY = [
    "*", "(", ")", "@tag:{a}", "@tag:{a|b*}", "@n:[1 (5]", "@title:hello", "-@tag:{b}", "hello*",
    "%hello%", "*=>[KNN 3 @v $vec]", "*=>[KNN $k @v $vec AS d]", "=>", "[", "]", "{", "}", "|",
    "@v:[VECTOR_RANGE 1 $vec]=>{$YIELD_DISTANCE_AS: d}", "$vec", "vec", "k", "d", "ismissing(@tag)",
    "((((((((((", "@", "\\", '"', "~", "@n:[-inf +inf]", "@v:[VECTOR_RANGE $k $vec]",
]


def random_word(rng):
    r = rng.random()
    if r < 0.22:
        return rng.choice(KEYWORDS)
    if r < 0.45:
        return rng.choice(NUMBERS)
    if r < 0.60:
        return rng.choice(KEYS)
    if r < 0.70:
        return rng.choice(TYPES)
    if r < 0.78:
        return rng.choice(QUERY)
    if r < 0.88:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(25)))
    # A blob of a plausible but wrong length (float vectors, tensors).
    n = rng.choice([0, 1, 3, 4, 7, 8, 9, 12, 15, 16, 17, 31, 33])
    return bytes(rng.getrandbits(8) for _ in range(n))


# A WordPiece tokenizer.json of ten tokens (the TOKENIZER backend).
TOKENIZER_JSON = json.dumps({
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                   "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "decoder": None,
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100,
              "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5,
                        ",": 6, ".": 7, "red": 8, "##is": 9}}}).encode()

# Relative frequency of a template; the rest count 1. Model loads are the slowest commands
# (ONNX Runtime parses the blob, ~1.5 ms even when it refuses it): fewer of them.
WEIGHTS = {"AI.MODELSTORE": 0.4, "AI.MODELSET": 0.4}


def templates(mlp):
    """Valid commands (on the seeded keyspace) that the random run mutates."""
    return [
        ["AI.TENSORSET", "k0", "FLOAT", "2", "2", "VALUES", "1", "2", "3", "4"],
        ["AI.TENSORSET", "k1", "INT8", "3", "BLOB", b"\x01\x02\x03"],
        ["AI.TENSORSET", "k2", "STRING", "2", "VALUES", "a", "b"],
        ["AI.TENSORSET", "t4", "FLOAT", "1", "4", "BLOB", F4],
        ["AI.TENSORSET", "k1", "BOOL", "2", "BLOB", b"\x00\x01"],
        ["AI.TENSORSET", "k2", "STRING", "2", "BLOB", b"a\x00b\x00"],
        ["AI.TENSORGET", "t", "META", "VALUES"],
        ["AI.TENSORGET", "ts", "BLOB"],
        ["AI.MODELSTORE", "mk0", "ONNX", "CPU", "TAG", "x", "BATCHSIZE", "2", "BLOB", mlp],
        ["AI.MODELSTORE", "mk1", "ONNX", "CPU", "BLOB", mlp[:300], mlp[300:]],
        ["AI.MODELSTORE", "mk1", "TF", "CPU", "INPUTS", "1", "a", "OUTPUTS", "1", "b", "BLOB", b"x"],
        ["AI.MODELSET", "mk0", "ONNX", "CPU", "BLOB", mlp],
        ["AI.MODELGET", "m", "META"],
        ["AI.MODELGET", "mk0", "BLOB"],
        ["AI.MODELDEL", "mk0"],
        ["AI.MODELEXECUTE", "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o", "TIMEOUT", "1000"],
        ["AI.MODELEXECUTE", "mk0", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"],
        ["AI.MODELRUN", "m", "INPUTS", "t4", "OUTPUTS", "o"],
        ["AI.DAGEXECUTE", "LOAD", "1", "t4", "PERSIST", "1", "o", "|>", "AI.MODELEXECUTE", "m", "INPUTS",
         "1", "t4", "OUTPUTS", "1", "o", "|>", "AI.TENSORGET", "o", "VALUES"],
        ["AI.DAGEXECUTE_RO", "ROUTING", "t", "TIMEOUT", "1000", "|>", "AI.TENSORSET", "a", "FLOAT", "1",
         "4", "VALUES", "1", "2", "3", "4", "|>", "AI.MODELEXECUTE", "m", "INPUTS", "1", "a", "OUTPUTS",
         "1", "b", "|>", "AI.TENSORGET", "b", "META"],
        ["AI.DAGRUN", "LOAD", "1", "t4", "|>", "AI.MODELRUN", "m", "INPUTS", "t4", "OUTPUTS", "o", "|>",
         "AI.TENSORGET", "o", "BLOB"],
        ["AI.DAGRUN_RO", "|>", "AI.TENSORSET", "a", "INT8", "1", "VALUES", "1", "|>", "AI.TENSORGET", "a"],
        ["AI.INFO", "m"],
        ["AI.INFO", "mk0", "RESETSTAT"],
        ["AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"],
        ["AI.CONFIG", "MODEL_CHUNK_SIZE", "1024"],
        ["AI.CONFIG", "LOADBACKEND", "TFLITE", "redisai_tflite/redisai_tflite.so"],
        ["AI._MODELSCAN"],
        ["FT.CREATE", "ix0", "ON", "HASH", "PREFIX", "1", "doc:", "SCHEMA", "tag", "TAG", "n", "NUMERIC",
         "v", "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "L2"],
        ["FT.CREATE", "ix1", "PREFIX", "1", "hd:", "SCHEMA", "title", "TEXT", "v", "VECTOR", "FLAT", "6",
         "TYPE", "FLOAT64", "DIM", "2", "DISTANCE_METRIC", "COSINE"],
        ["FT.SEARCH", "idx", "*=>[KNN 3 @v $vec AS d]", "PARAMS", "2", "vec", F2, "SORTBY", "d", "LIMIT",
         "0", "5", "DIALECT", "2"],
        ["FT.SEARCH", "idx", "(@tag:{a|b} @n:[1 (10])", "RETURN", "2", "title", "n", "SORTBY", "n", "DESC"],
        ["FT.SEARCH", "hidx", "@v:[VECTOR_RANGE 1 $vec]=>{$YIELD_DISTANCE_AS: d}", "PARAMS", "2", "vec", F2],
        ["FT.SEARCH", "ix0", "*=>[KNN $k @v $vec]", "PARAMS", "4", "k", "3", "vec", F2, "NOCONTENT"],
        ["FT.SEARCH", "idx", "hello -@tag:{b}", "NOCONTENT", "WITHSCORES", "INKEYS", "1", "doc:1"],
        ["FT.INFO", "idx"],
        ["FT.SEARCH", "idx", "hello", "HIGHLIGHT", "FIELDS", "1", "title", "TAGS", "<", ">",
         "SUMMARIZE", "FRAGS", "2", "LEN", "5", "SEPARATOR", "|"],
        ["FT.PROFILE", "idx", "SEARCH", "LIMITED", "QUERY", "hello @tag:{a}", "NOCONTENT"],
        ["FT.GET", "idx", "doc:1"],
        ["FT.MGET", "idx", "doc:1", "doc:2", "s"],
        ["FT.ALIASADD", "al0", "idx"],
        ["FT.ALIASUPDATE", "al0", "hidx"],
        ["FT.ALIASDEL", "al0"],
        ["FT.DROPINDEX", "ix0", "DD"],
        ["FT._LIST"],
        ["HSET", "doc:3", "title", "hi there", "tag", "a,b", "n", "3", "v", F2],
        ["HSET", "hd:2", "v", F2, "title", "x"],
        # Text in, answers out (issue 19): a tokenizer, then DAGs that run it, pool, write an
        # indexed hash and search with the pooled vector.
        ["AI.MODELSTORE", "tk", "TOKENIZER", "CPU", "BLOB", TOKENIZER_JSON],
        ["AI.DAGEXECUTE", "ROUTING", "tk", "|>", "AI.TENSORSET", "s", "STRING", "2", "VALUES",
         "hello, world", "redis", "|>", "AI.MODELEXECUTE", "tk", "INPUTS", "1", "s", "OUTPUTS",
         "3", "a", "b", "c", "|>", "AI.TENSORGET", "a", "VALUES"],
        ["AI.DAGEXECUTE", "ROUTING", "doc:3", "|>", "AI.TENSORSET", "h", "FLOAT", "1", "2", "2",
         "VALUES", "1", "2", "3", "4", "|>", "AI.TENSORSET", "k", "INT64", "1", "2", "VALUES", "1",
         "0", "|>", "AI.POOL", "MEAN", "NORMALIZE", "INPUTS", "2", "h", "k", "OUTPUTS", "1", "e",
         "|>", "AI.HSET", "doc:3", "VECTOR", "v", "e", "FIELDS", "2", "tag", "a",
         "|>", "AI.FTSEARCH", "idx", "*=>[KNN 3 @v $vec AS d]", "VECTOR", "vec", "e", "SORTBY", "d",
         "DIALECT", "2"],
        # Stream pipelines: registered, fed, inspected and removed while the rest runs.
        ["AI.PIPELINE", "ADD", "pp0", "STREAM", "st", "FIELD", "x", "INPUT", "x", "FLOAT", "4",
         "BATCH", "4", "MAXLATENCY", "2", "OUTPUT", "STREAM", "so", "MAXLEN", "100", "OUTPUTS", "1",
         "o", "DAG", "|>", "AI.MODELEXECUTE", "m", "INPUTS", "1", "x", "OUTPUTS", "1", "o"],
        ["AI.PIPELINE", "ADD", "pp1", "STREAM", "st", "FIELD", "s", "INPUT", "s", "STRING",
         "MAXLATENCY", "0", "OUTPUT", "HASH", "ph:", "OUTPUTS", "1", "s", "DAG", "TIMEOUT", "100",
         "|>", "AI.TENSORGET", "s", "META"],
        ["XADD", "st", "MAXLEN", "100", "*", "x", F4, "s", "text"],
        ["XADD", "st", "*", "x", b"\x00", "s", "a\x00b"],
        ["AI.PIPELINE", "INFO", "pp0"],
        ["AI.PIPELINE", "LIST"],
        ["AI.PIPELINE", "DEL", "pp1"],
    ]


COMMAND_NAMES = [
    "AI.TENSORSET", "AI.TENSORGET", "AI.MODELSTORE", "AI.MODELSET", "AI.MODELGET", "AI.MODELDEL",
    "AI.MODELEXECUTE", "AI.MODELRUN", "AI.DAGEXECUTE", "AI.DAGEXECUTE_RO", "AI.DAGRUN",
    "AI.DAGRUN_RO", "AI.INFO", "AI.CONFIG", "AI._MODELSCAN", "FT.CREATE", "FT.SEARCH", "FT.INFO",
    "FT.DROPINDEX", "FT._LIST", "AI.PIPELINE", "FT.PROFILE", "FT.GET", "FT.MGET",
]


def random_command(rng, tmpl, cum_weights):
    argv = list(rng.choices(tmpl, cum_weights=cum_weights)[0])
    if rng.random() < 0.03:
        # Another command's arguments.
        argv[0] = rng.choice(COMMAND_NAMES)
    for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3, 5])):
        op = rng.random()
        n = len(argv)
        if op < 0.35 and n > 1:
            argv[rng.randrange(1, n)] = random_word(rng)
        elif op < 0.55:
            argv.insert(rng.randrange(1, n + 1), random_word(rng))
        elif op < 0.70 and n > 1:
            del argv[rng.randrange(1, n)]
        elif op < 0.78 and n > 1:
            del argv[rng.randrange(1, n):]
        elif op < 0.90 and n > 1:
            i = rng.randrange(1, n)
            argv[i:i] = argv[i:rng.randrange(i, n) + 1]
        elif n > 2:
            i, j = rng.randrange(1, n), rng.randrange(1, n)
            argv[i], argv[j] = argv[j], argv[i]
    if rng.random() < 0.02:
        # The key-position callbacks (cluster routing, ACLs) parse the same arguments. The
        # command name "COMMAND GETKEYS" is split by redis-py and has no reply callback.
        argv = ["COMMAND GETKEYS", *argv]
    return argv


def used_memory(r):
    return r.info("memory")["used_memory"]


def settle(r, backendspath):
    """Empties the server of everything the commands made, as far as a client can."""
    for name in r.execute_command("AI.PIPELINE", "LIST"):
        r.execute_command("AI.PIPELINE", "DEL", name)
    for name in r.execute_command("FT._LIST"):
        r.execute_command("FT.DROPINDEX", name)
    r.execute_command("FLUSHALL", "SYNC")
    r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", "535822336")
    r.execute_command("AI.CONFIG", "BACKENDSPATH", backendspath)
    # Server-side bookkeeping, not module memory: slow commands' argv copies and the per-error-
    # code counters (FT.SEARCH's "<index>: no such index" makes a new code per random name).
    r.execute_command("SLOWLOG", "RESET")
    r.execute_command("CONFIG", "RESETSTAT")
    try:
        r.execute_command("MEMORY", "PURGE")
    except redis.ResponseError:
        pass
    time.sleep(0.2)
    return used_memory(r)


def test_random_commands(env, capsys):
    env.ready()
    log_start = len(env.log())
    port = env.server.port
    admin = redis.Redis(host="127.0.0.1", port=port, socket_timeout=60)
    backendspath = admin.execute_command("AI.CONFIG", "GET", "BACKENDSPATH")
    # Warm up what stays loaded for good (the ONNX runtime, each backend tried once, the queues),
    # then measure the empty server.
    for argv in [
        ["AI.MODELEXECUTE", "m", "INPUTS", "1", "t4", "OUTPUTS", "1", "o"],
        ["AI.MODELSTORE", "w", "TORCH", "CPU", "BLOB", b"x"],
        ["AI.MODELSTORE", "w", "TF", "CPU", "INPUTS", "1", "a", "OUTPUTS", "1", "b", "BLOB", b"x"],
        ["AI.MODELSTORE", "w", "TFLITE", "CPU", "BLOB", b"x"],
        ["AI.MODELSTORE", "w", "TOKENIZER", "CPU", "BLOB", b"x"],
        ["FT.SEARCH", "idx", "*=>[KNN 3 @v $vec]", "PARAMS", "2", "vec", F2],
    ]:
        try:
            admin.execute_command(*argv)
        except redis.ResponseError:
            pass
    start_memory = settle(admin, backendspath)

    rng = random.Random(0x5EED_2024)
    tmpl = templates(MLP)
    cum_weights = list(itertools.accumulate(WEIGHTS.get(t[0], 1) for t in tmpl))
    errors = Counter()
    replies = 0
    began = time.perf_counter()
    con = redis.Redis(host="127.0.0.1", port=port, socket_timeout=60)
    for first in range(0, RANDOM_COMMANDS, BATCH):
        # Each batch starts from the known keys (the previous one may have deleted the model
        # or an index, which would leave later commands nothing deeper to reach).
        seed(admin)
        batch = [random_command(rng, tmpl, cum_weights) for _ in range(min(BATCH, RANDOM_COMMANDS - first))]
        pipe = con.pipeline(transaction=False)
        for argv in batch:
            pipe.execute_command(*argv)
        results = pipe.execute(raise_on_error=False)
        assert len(results) == len(batch)
        for argv, res in zip(batch, results):
            replies += 1
            if isinstance(res, Exception):
                text = str(res)
                assert "internal error" not in text, f"{argv!r} -> {text}"
                assert isinstance(res, redis.ResponseError), f"{argv!r} -> {res!r}"
                errors[text] += 1
        assert con.ping(), f"no PONG after commands {first}..{first + len(batch)}"
    elapsed = time.perf_counter() - began
    con.close()
    assert replies == RANDOM_COMMANDS
    assert env.server.alive()
    new_log = env.log()[log_start:]
    assert not panics(new_log), "\n".join(panics(new_log))

    end_memory = settle(admin, backendspath)
    admin.close()
    shapes = {re.sub(r"\d+", "N", e) for e in errors}
    with capsys.disabled():
        print(
            f"\nrandom run: {replies} commands in {elapsed:.1f} s, {sum(errors.values())} errors, "
            f"{len(errors)} distinct error texts ({len(shapes)} with numbers masked); "
            f"used_memory {start_memory} -> {end_memory} ({end_memory - start_memory:+d} bytes)"
        )
    assert abs(end_memory - start_memory) < 1024 * 1024, (start_memory, end_memory)
