"""Stream-triggered pipelines (AI.PIPELINE, issue 19 part 5): XADDs come out scored with no
consumer process.

What is checked: results equal the client-side path (numpy for a linear model; Python
tokenizers + onnxruntime + numpy pooling for text embeddings) to 1e-5; every entry is
answered once and acknowledged; bad entries and failing DAGs write error records and are
acknowledged; no entry is lost across kill -9 with an AOF or an RDB; a replica stores the
definition but runs nothing until it is promoted; ACL at registration and at run time; hostile
arguments change nothing.
"""

import os
import signal
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import redis
from onnx import TensorProto, helper, numpy_helper

from redis_server import RedisServer
from test_durability import Node, nodes  # noqa: F401 (a fixture)
from test_text import MODEL_ONNX, batch_longest_json, needs_model, reference_embeddings

MODELS = Path(os.environ.get("REDISAI_TEST_MODELS",
                            Path(__file__).resolve().parents[2] / "target/test-models"))
FEATURES = 4
rng = np.random.default_rng(7)
W = rng.standard_normal((FEATURES, 2)).astype(np.float32)
B = rng.standard_normal(2).astype(np.float32)


def linear_onnx():
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "scorer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(W, "w"), numpy_helper.from_array(B, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m.SerializeToString()


def add_linear(r, name="p", stream="in", out="out", *extra):
    return r.execute_command(
        "AI.PIPELINE", "ADD", name, "STREAM", stream, "FIELD", "x", "INPUT", "x", "FLOAT", FEATURES,
        *extra, "OUTPUT", "STREAM", out, "OUTPUTS", 1, "y",
        "DAG", "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")


def wait_for(pred, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def info(r, name="p"):
    flat = r.execute_command("AI.PIPELINE", "INFO", name)
    return {k.decode(): v for k, v in zip(flat[::2], flat[1::2])}


def results(r, out="out"):
    return {f[b"id"]: f for _, f in r.xrange(out)}


@pytest.fixture
def server():
    s = RedisServer(server_args=["--enable-debug-command", "yes"])
    yield s
    s.stop()


@pytest.fixture
def r(server):
    c = redis.Redis(port=server.port)
    c.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", linear_onnx())
    return c


def test_scores_equal_the_client_side_path_and_every_entry_is_acked(r):
    assert add_linear(r, "p", "in", "out", "BATCH", 16, "MAXLATENCY", 5) == b"OK"
    X = rng.standard_normal((300, FEATURES)).astype(np.float32)
    ids = [r.xadd("in", {"x": X[i].tobytes(), "other": "kept"}) for i in range(300)]
    wait_for(lambda: r.xlen("out") >= 300, what="300 results")
    got = results(r)
    assert len(got) == 300 == r.xlen("out")  # once each
    for i, eid in enumerate(ids):
        assert np.allclose(np.frombuffer(got[eid][b"y"], np.float32), X[i] @ W + B, atol=1e-5)
    assert r.xpending("in", "ai-pipeline:p")["pending"] == 0
    i = info(r)
    assert (i["processed"], i["failed"], i["in_flight"], i["lag"], i["running"]) == (300, 0, 0, 0, 1)
    assert 1 <= i["batches"] <= 300 and float(i["latency_p99_ms"]) >= float(i["latency_p50_ms"]) >= 0
    mod = r.info("modules")
    assert mod["ai_number_of_pipelines"] == 1 and mod["ai_processed"] == 300
    assert mod["ai_pipeline_p"]["processed"] == 300
    assert r.execute_command("AI.PIPELINE", "LIST") == [b"p"]


def test_a_full_batch_starts_before_maxlatency(r):
    add_linear(r, "p", "in", "out", "BATCH", 4, "MAXLATENCY", 600000)
    x = np.zeros(FEATURES, np.float32).tobytes()
    for _ in range(3):
        r.xadd("in", {"x": x})
    time.sleep(0.5)
    assert r.xlen("out") == 0, "a partial batch started before MAXLATENCY"
    r.xadd("in", {"x": x})
    wait_for(lambda: r.xlen("out") == 4, what="the full batch")


def test_bad_entries_and_failed_dags_write_error_records_and_are_acked(r):
    add_linear(r, "p", "in", "out", "MAXLATENCY", 0)
    good = np.ones(FEATURES, np.float32).tobytes()
    a = r.xadd("in", {"x": b"short"})
    b = r.xadd("in", {"nox": good})
    c = r.xadd("in", {"x": good})
    wait_for(lambda: r.xlen("out") == 3)
    got = results(r)
    assert got[a][b"error"] == b"ERR field 'x' has 5 bytes, the input needs 16"
    assert got[b][b"error"] == b"ERR the entry has no field 'x'"
    assert b"y" in got[c] and b"error" not in got[c]
    # The model deleted while the pipeline runs: the batch fails, is answered and acked.
    r.execute_command("AI.MODELDEL", "m")
    d = r.xadd("in", {"x": good})
    wait_for(lambda: r.xlen("out") == 4)
    assert results(r)[d][b"error"] == b"ERR model key is empty"
    assert r.xpending("in", "ai-pipeline:p")["pending"] == 0
    i = info(r)
    assert (i["processed"], i["failed"]) == (1, 3)


def test_hash_output_keeps_the_entry_fields(r):
    r.execute_command(
        "AI.PIPELINE", "ADD", "h", "STREAM", "in", "FIELD", "x", "INPUT", "x", "FLOAT", FEATURES,
        "MAXLATENCY", 1, "OUTPUT", "HASH", "scored:", "OUTPUTS", 2, "y", "x",
        "DAG", "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    x = np.arange(FEATURES, dtype=np.float32)
    eid = r.xadd("in", {"x": x.tobytes(), "user": "ann"}).decode()
    wait_for(lambda: r.exists(f"scored:{eid}"))
    h = r.hgetall(f"scored:{eid}")
    assert h[b"user"] == b"ann" and h[b"x"] == x.tobytes()
    assert np.allclose(np.frombuffer(h[b"y"], np.float32), x @ W + B, atol=1e-5)


def test_keys_are_declared_and_definitions_survive_debug_reload(r):
    # Cluster routing and ACL key checks see the streams and the DAG's model as keys.
    argv = ["AI.PIPELINE", "ADD", "p", "STREAM", "in", "FIELD", "x", "INPUT", "x", "FLOAT",
            FEATURES, "MAXLATENCY", 0, "OUTPUT", "STREAM", "out", "OUTPUTS", 1, "y",
            "DAG", "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"]
    assert [str(k) for k in r.execute_command("COMMAND GETKEYS", *argv)] == ["in", "out", "m"]
    assert r.execute_command(*argv) == b"OK"
    before = info(r)
    r.execute_command("DEBUG", "RELOAD")
    after = info(r)
    for k in ("stream", "group", "field", "input", "batch", "maxlatency", "output", "outputs",
              "dag", "user"):
        assert after[k] == before[k], k
    r.xadd("in", {"x": np.ones(FEATURES, np.float32).tobytes()})
    wait_for(lambda: r.xlen("out") == 1, what="a result after DEBUG RELOAD")


def test_two_pipelines_on_one_stream_each_see_every_entry(r):
    add_linear(r, "p", "in", "out", "MAXLATENCY", 0)
    add_linear(r, "q", "in", "out2", "MAXLATENCY", 0)
    with pytest.raises(redis.ResponseError, match="pipeline 'p' already reads this stream"):
        add_linear(r, "z", "in", "out3", "GROUP", "ai-pipeline:p")
    x = np.ones(FEATURES, np.float32).tobytes()
    for _ in range(10):
        r.xadd("in", {"x": x})
    wait_for(lambda: r.xlen("out") == 10 and r.xlen("out2") == 10)


@needs_model
def test_text_in_embeddings_out_equal_the_client_side_path(r):
    r.execute_command("AI.MODELSTORE", "tok", "TOKENIZER", "CPU", "BLOB", batch_longest_json())
    r.execute_command("AI.MODELSTORE", "minilm", "ONNX", "CPU", "BLOB", MODEL_ONNX.read_bytes())
    assert r.execute_command(
        "AI.PIPELINE", "ADD", "emb", "STREAM", "texts", "FIELD", "text", "INPUT", "text", "STRING",
        "BATCH", 8, "MAXLATENCY", 20, "OUTPUT", "STREAM", "embeddings", "OUTPUTS", 1, "emb",
        "DAG", "|>", "AI.MODELEXECUTE", "tok", "INPUTS", 1, "text", "OUTPUTS", 3, "ids", "mask", "types",
        "|>", "AI.MODELEXECUTE", "minilm", "INPUTS", 3, "ids", "mask", "types", "OUTPUTS", 1, "h",
        "|>", "AI.POOL", "MEAN", "NORMALIZE", "INPUTS", 2, "h", "mask", "OUTPUTS", 1, "emb") == b"OK"
    texts = ["hello world", "Redis module in Rust", "a cat sat on the mat", "東京 — ÜNÏCÖDÉ!", ""]
    ids = [r.xadd("texts", {"text": t}) for t in texts]
    wait_for(lambda: r.xlen("embeddings") == len(texts), timeout=60)
    got = results(r, "embeddings")
    want = reference_embeddings(texts)
    for i, eid in enumerate(ids):
        v = np.frombuffer(got[eid][b"emb"], np.float32)
        assert v.shape == (384,)
        assert np.allclose(v, want[i], atol=1e-5), texts[i]


def test_hostile_arguments_are_refused_and_change_nothing(r):
    r.set("str", "x")
    base = ["AI.PIPELINE", "ADD", "p", "STREAM", "in", "FIELD", "x", "INPUT", "x", "FLOAT", 4]
    tail = ["OUTPUT", "STREAM", "out", "OUTPUTS", 1, "y", "DAG", "|>", "AI.MODELEXECUTE", "m",
            "INPUTS", 1, "x", "OUTPUTS", 1, "y"]
    cases = [
        (["AI.PIPELINE"], "wrong number of arguments"),
        (["AI.PIPELINE", "NOPE"], "ERR unknown subcommand 'NOPE'. Try ADD, DEL, LIST or INFO"),
        (["AI.PIPELINE", "ADD"], "wrong number of arguments"),
        (["AI.PIPELINE", "DEL", "nope"], "ERR no such pipeline"),
        (["AI.PIPELINE", "INFO", "nope"], "ERR no such pipeline"),
        (["AI.PIPELINE", "LIST", "x"], "wrong number of arguments"),
        (base + ["BATCH", 10**12] + tail, "ERR BATCH must be an integer between 1 and 10000"),
        (base + ["BATCH", -1] + tail, "ERR BATCH must be an integer between 1 and 10000"),
        (base + ["MAXINFLIGHT", 1000] + tail, "ERR MAXINFLIGHT must be an integer between 1 and 64"),
        (base + ["MAXLATENCY", "x"] + tail, "ERR MAXLATENCY must be an integer between 0 and 3600000"),
        (["AI.PIPELINE", "ADD", "p", "STREAM", "str", "FIELD", "x", "INPUT", "x", "FLOAT", 4] + tail,
         "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (base + tail[:2] + ["str"] + tail[3:], "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (base + tail[:-9] + ["|>", "AI.MODELEXECUTE", "nomodel", "INPUTS", 1, "x", "OUTPUTS", 1, "y"],
         "ERR model key is empty"),
        (base + tail[:5] + ["z"] + tail[6:], "INPUT key cannot be found in DAG"),
        (base + tail + ["|>", "AI.TENSORGET"], "ERR wrong number of arguments for 'AI.TENSORGET' command"),
        (base + ["OUTPUT", "STREAM", "out", "OUTPUTS", 1, "y", "DAG", "PERSIST", 1, "y", "|>",
                 "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"],
         "ERR a pipeline's DAG cannot PERSIST, AI.HSET or AI.FTSEARCH: its results go to OUTPUT"),
        (["AI.PIPELINE", "ADDAS", "default", "p"] + base[3:] + tail,
         "ERR ADDAS is only replayed from a master or the AOF; use ADD"),
        (base[:-4] + ["INPUT", "x", "FLOAT", 2**40, 2**40] + tail, "ERR tensor shape is too large"),
    ]
    before = sorted(r.keys("*"))
    for argv, text in cases:
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command(*argv)
        shown = text[4:] if text.startswith("ERR ") else text
        assert str(e.value).startswith(shown), (argv[:12], str(e.value))
    assert sorted(r.keys("*")) == before and r.execute_command("AI.PIPELINE", "LIST") == []
    # A second ADD of the same name is refused; the first keeps running.
    add_linear(r)
    with pytest.raises(redis.ResponseError, match="already exists"):
        add_linear(r)
    with pytest.raises(redis.ResponseError, match="cannot be the pipeline's own stream"):
        add_linear(r, "q", "in", "in")


def test_deleting_or_replacing_the_stream_while_running(r):
    add_linear(r, "p", "in", "out", "MAXLATENCY", 0)
    x = np.zeros(FEATURES, np.float32).tobytes()
    r.xadd("in", {"x": x})
    wait_for(lambda: r.xlen("out") == 1)
    r.delete("in")
    # A new stream under the same name: the group is made again and its entries are read.
    r.xadd("in", {"x": x})
    r.xadd("in", {"x": x})
    wait_for(lambda: r.xlen("out") == 3, what="entries of the re-created stream")
    # A string in its place: reads fail, the server stays up, the pipeline says why.
    r.delete("in")
    r.set("in", "not a stream")
    time.sleep(0.3)
    assert r.ping() and r.xlen("out") == 3
    r.delete("in")
    r.xadd("in", {"x": x})
    wait_for(lambda: r.xlen("out") == 4)
    assert r.execute_command("AI.PIPELINE", "DEL", "p") == b"OK"
    r.xadd("in", {"x": x})
    time.sleep(0.3)
    assert r.xlen("out") == 4 and r.execute_command("AI.PIPELINE", "LIST") == []


def test_back_pressure_keeps_entries_in_the_stream(server):
    r = redis.Redis(port=server.port)
    r.execute_command("AI.MODELSTORE", "slow", "ONNX", "CPU", "BLOB",
                      (MODELS / "slow.onnx").read_bytes())
    # Each entry is one int64; a batch of two is slow.onnx's shape `n` (about a second here).
    r.execute_command(
        "AI.PIPELINE", "ADD", "s", "STREAM", "in", "FIELD", "n", "INPUT", "n", "INT64",
        "BATCH", 2, "MAXLATENCY", 50, "MAXINFLIGHT", 1, "OUTPUT", "STREAM", "out",
        "OUTPUTS", 1, "y", "DAG", "|>", "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n",
        "OUTPUTS", 1, "y")
    n = np.array([700], np.int64).tobytes()
    p = r.pipeline(transaction=True)
    p.xadd("in", {"n": n}).xadd("in", {"n": n})
    p.execute()
    wait_for(lambda: info(r, "s")["in_flight"] == 1, what="the first batch")
    for _ in range(8):
        r.xadd("in", {"n": n})
    time.sleep(0.1)
    i = info(r, "s")
    # One batch of two taken, the other eight wait in the stream, not in the server's memory.
    assert (i["in_flight"], i["lag"]) == (1, 8), i
    assert r.xpending("in", "ai-pipeline:s")["pending"] == 2
    wait_for(lambda: r.xlen("out") == 10, timeout=60, what="every entry answered")
    assert r.xpending("in", "ai-pipeline:s")["pending"] == 0


# ------------------------------------------------------------------------------------------
# Crashes, restarts, replicas.

def produce_and_kill(n, count, kill_after):
    """XADDs `count` entries, kill -9 after `kill_after`; returns the ids the server acknowledged."""
    r = n.client()
    ids = []
    x = np.ones(FEATURES, np.float32).tobytes()
    for i in range(count):
        ids.append(r.xadd("in", {"x": x, "i": i}))
        if i == kill_after:
            n.kill9()
            break
    return ids


@pytest.mark.parametrize("persistence", ["aof", "rdb"])
def test_kill_9_mid_stream_loses_no_entry(nodes, persistence):
    if persistence == "aof":
        n = nodes("--appendonly", "yes", "--appendfsync", "always")
    else:
        n = nodes()
    n.start()
    r = n.client()
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", linear_onnx())
    add_linear(r, "p", "in", "out", "BATCH", 8, "MAXLATENCY", 2)
    if persistence == "rdb":
        x = np.ones(FEATURES, np.float32).tobytes()
        ids = [r.xadd("in", {"x": x, "i": i}) for i in range(200)]
        r.save()  # some entries scored, some pending or unread: all in the RDB
        n.kill9()
    else:
        ids = produce_and_kill(n, 400, 250)
    n.start()
    r = n.client()
    assert r.execute_command("AI.PIPELINE", "LIST") == [b"p"]
    # Eventually, not at once: the tick starts the recovery within 100 ms of the restart (and
    # XINFO's lag is not a safe "done" signal after an AOF replay).
    deadline = time.time() + 30
    while True:
        got = results(r)
        missing = [i for i in ids if i not in got]
        if not missing and r.xpending("in", "ai-pipeline:p")["pending"] == 0:
            break
        assert time.time() < deadline, (
            f"{len(missing)} acknowledged entries never scored: {missing[:5]} of {len(ids)}, "
            f"in the stream: {[m for m in missing if r.xrange('in', m, m)][:5]}, info {info(r)}")
        time.sleep(0.05)
    assert all(b"y" in f for f in got.values())
    n.assert_no_crash(persistence)


def test_replica_stores_pipelines_but_runs_none_until_promoted():
    primary = RedisServer()
    replica = RedisServer(server_args=["--replicaof", "127.0.0.1", str(primary.port)])
    try:
        r, rr = redis.Redis(port=primary.port), redis.Redis(port=replica.port)
        wait_for(lambda: rr.info("replication").get("master_link_status") == "up", what="sync")
        r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", linear_onnx())
        add_linear(r, "p", "in", "out", "MAXLATENCY", 0)
        x = np.ones(FEATURES, np.float32).tobytes()
        for _ in range(20):
            r.xadd("in", {"x": x})
        wait_for(lambda: r.xlen("out") == 20)
        r.execute_command("WAIT", 1, 5000)
        assert rr.execute_command("AI.PIPELINE", "LIST") == [b"p"]
        ri = info(rr)
        assert (ri["running"], ri["processed"], ri["user"]) == (0, 0, b"default")
        assert rr.xlen("out") == 20 and rr.xpending("in", "ai-pipeline:p")["pending"] == 0
        # Entries the primary never got to: a long MAXLATENCY on a second pipeline.
        add_linear(r, "q", "in2", "out2", "BATCH", 1000, "MAXLATENCY", 3600000)
        for _ in range(15):
            r.xadd("in2", {"x": x})
        r.execute_command("WAIT", 1, 5000)
        assert rr.xlen("in2") == 15 and rr.xlen("out2") == 0
        primary.proc.send_signal(signal.SIGKILL)
        primary.proc.wait()
        time.sleep(0.3)
        assert rr.xlen("out2") == 0, "the replica ran a pipeline"
        rr.execute_command("REPLICAOF", "NO", "ONE")
        # The promoted replica runs them: the waiting entries, and new ones.
        wait_for(lambda: rr.xlen("out2") == 15, what="the promoted replica to read the backlog")
        rr.xadd("in", {"x": x})
        wait_for(lambda: rr.xlen("out") == 21, what="the promoted replica to score new entries")
        assert info(rr)["running"] == 1
    finally:
        replica.stop()
        primary.stop()


def pending(c, stream, group):
    """The group's pending count; None while the stream or the group does not exist there."""
    try:
        return c.xpending(stream, group)["pending"]
    except redis.ResponseError as e:
        if str(e).startswith("NOGROUP"):
            return None
        raise


def test_entries_pending_when_the_primary_dies_are_scored_by_the_promoted_replica():
    """Entries the primary read but never acknowledged (its writes refused: the pipeline's
    user lost the output key there; ACLs are per server) are in the replica's pending list;
    promoted, the replica reads them again and scores them."""
    primary = RedisServer()
    replica = RedisServer(server_args=["--replicaof", "127.0.0.1", str(primary.port)])
    try:
        r, rr = redis.Redis(port=primary.port), redis.Redis(port=replica.port)
        for c in (r, rr):
            c.execute_command("ACL", "SETUSER", "u", "on", ">pw", "~*", "+@all")
        wait_for(lambda: rr.info("replication").get("master_link_status") == "up", what="sync")
        r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", linear_onnx())
        add_linear(redis.Redis(port=primary.port, username="u", password="pw"), "p", "in", "out",
                   "MAXLATENCY", 0)
        r.execute_command("ACL", "SETUSER", "u", "resetkeys", "~in*", "~m")
        x = np.ones(FEATURES, np.float32).tobytes()
        ids = [r.xadd("in", {"x": x}) for _ in range(5)]
        # Until the stream and its group have reached the replica, XPENDING answers NOGROUP.
        wait_for(lambda: pending(rr, "in", "ai-pipeline:p") == 5, what="5 pending")
        assert rr.xlen("out") == 0 and info(rr)["running"] == 0
        primary.proc.send_signal(signal.SIGKILL)
        primary.proc.wait()
        rr.execute_command("REPLICAOF", "NO", "ONE")
        wait_for(lambda: rr.xpending("in", "ai-pipeline:p")["pending"] == 0
                 and set(ids) <= set(results(rr)), what="every entry scored after the promotion")
        assert rr.xlen("out") == 5
    finally:
        replica.stop()
        primary.stop()


# ------------------------------------------------------------------------------------------
# ACL.

def test_acl_at_registration_and_at_run_time(r, server):
    r.execute_command("ACL", "SETUSER", "u", "on", ">pw", "~in*", "~out*", "~m", "+@all")
    r.execute_command("ACL", "SETUSER", "noxadd", "on", ">pw", "~*", "+@all", "-xadd")
    u = redis.Redis(port=server.port, username="u", password="pw")
    # Keys outside the user's patterns are refused when registering.
    with pytest.raises(redis.exceptions.NoPermissionError):
        add_linear(u, "p", "in", "elsewhere")
    with pytest.raises(redis.exceptions.NoPermissionError, match="'xadd' command"):
        add_linear(redis.Redis(port=server.port, username="noxadd", password="pw"), "p")
    assert r.execute_command("AI.PIPELINE", "LIST") == []
    assert add_linear(u, "p", "in", "out", "MAXLATENCY", 0) == b"OK"
    assert info(r)["user"] == b"u"
    x = np.ones(FEATURES, np.float32).tobytes()
    r.xadd("in", {"x": x})
    wait_for(lambda: r.xlen("out") == 1)
    # The pipeline writes as its user: when u loses the output key, nothing is written or
    # acknowledged; the entry waits, and is scored once the right is back.
    r.execute_command("ACL", "SETUSER", "u", "resetkeys", "~in*", "~m")
    r.xadd("in", {"x": x})
    wait_for(lambda: info(r)["write_errors"] >= 1, what="a refused write")
    assert r.xlen("out") == 1 and r.xpending("in", "ai-pipeline:p")["pending"] == 1
    assert b"NOPERM" in info(r)["last_error"], info(r)["last_error"]
    r.execute_command("ACL", "SETUSER", "u", "~out*")
    wait_for(lambda: r.xlen("out") == 2, what="the retry after the ACL came back")
    assert r.xpending("in", "ai-pipeline:p")["pending"] == 0


# ------------------------------------------------------------------------------------------
# Cluster: a pipeline lives and runs on the shard of its stream's slot.

def test_on_a_cluster_a_pipeline_runs_on_its_streams_shard():
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))
    from cluster_harness import Cluster

    cluster = Cluster(masters=3, replicas=0)
    try:
        rc = cluster.client()
        # No model: the DAG hands its input back, which is all the routing needs.
        add = ["AI.PIPELINE", "ADD", "p", "STREAM", "{t}in", "FIELD", "x", "INPUT", "x", "FLOAT", 2,
               "MAXLATENCY", 0, "OUTPUT", "STREAM", "{t}out", "OUTPUTS", 1, "x",
               "DAG", "|>", "AI.TENSORGET", "x", "META"]
        slot = rc.keyslot("{t}in")
        owner = rc.get_node_from_key("{t}in")
        others = [n for n in cluster.masters() if n.port != owner.port]
        for n in others:
            with pytest.raises(redis.ResponseError, match="MOVED"):
                n.client().execute_command(*add)
        with pytest.raises(redis.exceptions.ResponseError, match="CROSSSLOT"):
            redis.Redis(port=owner.port).execute_command(*[("{u}out" if a == "{t}out" else a)
                                                           for a in add])
        assert redis.Redis(port=owner.port).execute_command(*add) == b"OK"
        for n in others:
            assert n.client().execute_command("AI.PIPELINE", "LIST") == []
        rows = [np.array([i, -i], np.float32) for i in range(30)]
        ids = [rc.xadd("{t}in", {"x": v.tobytes()}) for v in rows]
        wait_for(lambda: rc.xlen("{t}out") == 30, what="the shard's pipeline")
        got = {f[b"id"]: f[b"x"] for _, f in rc.xrange("{t}out")}
        assert [got[i] for i in ids] == [v.tobytes() for v in rows]
        assert slot == rc.keyslot("{t}out")
    finally:
        cluster.stop()
