"""Limits and lifecycles: what the module does at `maxmemory`, under eviction, with a backend
memory cap, and when runs meet timeouts, disconnects, deletes and SHUTDOWN (spec §4.7,
§4.15, §5, §6).

1. maxmemory + noeviction: once memory is over the limit every deny-oom AI.* write is
   refused with Redis's OOM error and writes nothing, while reads (AI.TENSORGET,
   AI.MODELGET, AI.INFO, INFO, AI.DAGEXECUTE_RO, FT.SEARCH, FT.INFO) keep working; deleting
   frees the memory and writes work again.
2. allkeys-lru eviction of indexed hashes: FT.INFO num_docs, `*` and KNN searches agree with
   the hashes that still exist.
3. BACKEND_MEMORY_LIMIT: shown in INFO and CONFIG, immutable, not enforced by the ONNX
   backend — and the log says so.
4. Lifecycles with the slow model (tests/models/make_models.py: `slow.onnx`, n = [700, 700]
   runs for about a second here): TIMEOUT behind a busy queue gives TIMEDOUT and writes
   nothing; clients that disconnect mid-run; AI.MODELDEL during a run; SHUTDOWN NOSAVE with
   runs queued exits within 5 s.

After each test the server (where it should still run) is alive and its log has no panic and
no crash report. Timings and figures are printed (`pytest -s` shows them).
"""

import os
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.exceptions import OutOfMemoryError

from redis_server import RedisServer

MODELS = Path(os.environ.get("REDISAI_TEST_MODELS",
                             Path(__file__).resolve().parents[2] / "target/test-models"))
OOM_TEXT = "command not allowed when used memory > 'maxmemory'."
CRASH_MARKS = ("panic", "REDIS BUG REPORT", "crashed by signal", "Segmentation fault",
               "ASSERTION FAILED", "Guru Meditation")


def model_bytes(name):
    path = MODELS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make models` (REDISAI_TEST_MODELS={MODELS})")
    return path.read_bytes()


def crash_lines(log):
    return [line for line in log.splitlines()
            if any(m.lower() in line.lower() for m in CRASH_MARKS)]


def assert_healthy(server):
    log = server.log()
    assert server.alive(), "redis-server died:\n" + "\n".join(log.splitlines()[-40:])
    assert not crash_lines(log), crash_lines(log)
    assert redis.Redis(port=server.port).ping()


def start(*module_args, server_args=()):
    return RedisServer(*module_args, server_args=server_args)


@pytest.fixture
def servers():
    """Servers started by a test; each is checked (unless it was meant to exit) and stopped."""
    started = []
    yield started
    try:
        for s, must_live in started:
            if must_live:
                assert_healthy(s)
    finally:
        for s, _ in started:
            s.stop()


def values(r, key):
    return [float(v) for v in r.execute_command("AI.TENSORGET", key, "VALUES")]


def mb(n):
    return f"{n / 1e6:.1f} MB"


# ---------------------------------------------------------------------------------------------
# 1. maxmemory with noeviction.


def test_over_maxmemory_ai_writes_are_refused_and_reads_work(servers):
    s = start(server_args=("--maxmemory-policy", "noeviction"))
    servers.append((s, True))
    r = redis.Redis(port=s.port)
    mlp = model_bytes("mlp.onnx")
    assert r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", mlp) == b"OK"
    r.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4)
    assert r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1,
                             "y") == b"OK"
    expected = values(r, "y")
    r.execute_command("FT.CREATE", "idx", "ON", "HASH", "PREFIX", 1, "doc:", "SCHEMA",
                      "v", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", 2,
                      "DISTANCE_METRIC", "L2")
    for i in range(5):
        r.hset(f"doc:{i}", "v", np.array([i, 0], dtype=np.float32).tobytes())

    # Fill with 1 MB tensors until one is refused, then one small command that allocates a
    # 16 MB zero tensor (accepted while under the limit) takes memory well over it.
    base = r.info("memory")["used_memory"]
    limit = base + 24_000_000
    r.config_set("maxmemory", limit)
    blob = np.ones(256 * 1024, dtype=np.float32).tobytes()
    t = time.time()
    filled = 0
    with pytest.raises(OutOfMemoryError, match=re.escape(OOM_TEXT)):
        while filled < 100:
            r.execute_command("AI.TENSORSET", f"fill:{filled}", "FLOAT", 256 * 1024, "BLOB", blob)
            filled += 1
    assert 10 < filled < 30, filled
    assert r.execute_command("AI.TENSORSET", "over", "FLOAT", 4, 1024, 1024) == b"OK"
    used = r.info("memory")["used_memory"]
    print(f"\nOOM: base {mb(base)}, maxmemory {mb(limit)}, {filled} x 1 MB tensors "
          f"written, then 16 MB zeros: used {mb(used)} ({time.time() - t:.2f} s)")
    assert used > limit

    keys_before = sorted(r.keys("*"))
    writes = [
        ("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1),
        ("AI.TENSORSET", "x", "FLOAT", 1, 4, "VALUES", 0, 0, 0, 0),  # overwrite refused too
        ("AI.MODELSTORE", "m2", "ONNX", "CPU", "BLOB", mlp),
        ("AI.MODELSET", "m2", "ONNX", "CPU", "BLOB", mlp),
        ("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y2"),
        ("AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", "y2"),
        ("AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "y2",
         "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y2"),
        ("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE",
         "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
         "    return tensors[0]\n"),
        ("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "x", "OUTPUTS", 1, "y2"),
        ("HSET", "doc:9", "v", np.array([9, 0], dtype=np.float32).tobytes()),
        ("FT.CREATE", "idx2", "ON", "HASH", "SCHEMA", "n", "NUMERIC"),
    ]
    for cmd in writes:
        with pytest.raises(OutOfMemoryError) as e:
            r.execute_command(*cmd)
        assert str(e.value) == OOM_TEXT, cmd
    assert sorted(r.keys("*")) == keys_before
    assert values(r, "x") == [1, 2, 3, 4] and values(r, "y") == expected
    assert r.execute_command("FT._LIST") == [b"idx"]
    info = r.execute_command("AI.INFO", "m")
    assert dict(zip(info[0::2], info[1::2]))[b"calls"] == 1  # nothing ran

    # Reads keep working.
    assert values(r, "x") == [1, 2, 3, 4]
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == mlp
    assert r.execute_command("AI.MODELGET", "m", "META")[1] == b"ONNX"
    assert r.info("memory")["used_memory"] > limit
    assert r.info("modules")["ai_threads_per_queue"] == 1
    out = r.execute_command("AI.DAGEXECUTE_RO", "LOAD", 1, "x",
                            "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "o",
                            "|>", "AI.TENSORGET", "o", "VALUES")
    assert [float(v) for v in out[1]] == expected
    q = np.array([0.9, 0], dtype=np.float32).tobytes()  # nearest: doc:1, then doc:0
    res = r.execute_command("FT.SEARCH", "idx", "*=>[KNN 2 @v $q]", "PARAMS", 2, "q", q,
                            "DIALECT", 2, "NOCONTENT")
    assert res[0] == 2 and sorted(res[1:]) == [b"doc:0", b"doc:1"]
    ft = r.execute_command("FT.INFO", "idx")
    assert dict(zip(ft[0::2], ft[1::2]))[b"num_docs"] in (5, b"5")
    assert r.execute_command("AI.INFO", "m")[1] == b"m"

    # Deleting is not deny-oom: it frees the memory and writes work again.
    assert r.delete("over", *[f"fill:{i}" for i in range(filled)]) == filled + 1
    assert r.info("memory")["used_memory"] < limit
    assert r.execute_command("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1) == b"OK"
    assert r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1,
                             "y2") == b"OK"
    assert values(r, "y2") == expected


# ---------------------------------------------------------------------------------------------
# 2. Eviction of indexed hashes.


def test_evicted_hashes_leave_the_index(servers):
    s = start(server_args=("--maxmemory-policy", "allkeys-lru", "--maxmemory-samples", "10"))
    servers.append((s, True))
    r = redis.Redis(port=s.port)
    dim, n = 16, 3000
    for name, algo in (("flat", ["FLAT", 6]), ("hnsw", ["HNSW", 6])):
        r.execute_command("FT.CREATE", name, "ON", "HASH", "PREFIX", 1, "doc:", "SCHEMA",
                          "n", "NUMERIC", "v", "VECTOR", *algo, "TYPE", "FLOAT32", "DIM", dim,
                          "DISTANCE_METRIC", "L2")
    rng = np.random.default_rng(3)
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.hset(f"doc:{i}", mapping={"n": i, "v": rng.random(dim, dtype=np.float32).tobytes()})
    p.execute()
    t = time.time()
    used = r.info("memory")["used_memory"]
    r.config_set("maxmemory", used + 2_000_000)
    # Tensors and strings push the hashes (older, so the first LRU candidates) out.
    blob = np.zeros(25_000, dtype=np.float32).tobytes()
    fills = 0
    while r.info("stats")["evicted_keys"] < n // 5 and fills < 3000:
        r.execute_command("AI.TENSORSET", f"fill:t{fills}", "FLOAT", 25_000, "BLOB", blob)
        r.set(f"fill:s{fills}", b"x" * 100_000)
        fills += 2
    # Lift the limit: no further eviction (any command may evict while over it) while the
    # index is compared with the keyspace.
    r.config_set("maxmemory", 0)
    evicted = r.info("stats")["evicted_keys"]
    docs = {k for k in r.scan_iter("doc:*", count=1000)}
    print(f"\neviction: {fills} fills of 100 kB, {evicted} keys evicted, "
          f"{n - len(docs)} of {n} indexed hashes gone ({time.time() - t:.2f} s)")
    assert len(docs) < n, "no indexed hash was evicted"
    assert evicted >= n // 5
    q = rng.random(dim, dtype=np.float32).tobytes()
    for name in ("flat", "hnsw"):
        ft = r.execute_command("FT.INFO", name)
        num_docs = int(dict(zip(ft[0::2], ft[1::2]))[b"num_docs"])
        assert num_docs == len(docs), name
        res = r.execute_command("FT.SEARCH", name, "*", "NOCONTENT", "LIMIT", 0, n)
        assert res[0] == len(docs) and set(res[1:]) == docs, name
        res = r.execute_command("FT.SEARCH", name, "@n:[0 +inf]", "NOCONTENT", "LIMIT", 0, n)
        assert res[0] == len(docs) and set(res[1:]) == docs, name
        res = r.execute_command("FT.SEARCH", name, f"*=>[KNN {n} @v $q]", "PARAMS", 2, "q", q,
                                "DIALECT", 2, "LIMIT", 0, n, "RETURN", 1, "n")
        found = set(res[1::2])
        assert found <= docs, (name, sorted(found - docs)[:5])
        assert res[0] == len(found) and len(found) >= 0.95 * len(docs), (name, res[0])
        assert all(f == [b"n", r.hget(k, "n")] for k, f in zip(res[1::2], res[2::2]))
        res = r.execute_command("FT.SEARCH", name, "*=>[KNN 10 @v $q]", "PARAMS", 2, "q", q,
                                "DIALECT", 2, "NOCONTENT")
        assert res[0] == 10 and set(res[1:]) <= docs
    assert r.info("modules")["ai_number_of_documents"] == 2 * len(docs)


# ---------------------------------------------------------------------------------------------
# 3. BACKEND_MEMORY_LIMIT.


def test_backend_memory_limit_is_reported_and_not_enforced(servers):
    s = start("BACKEND_MEMORY_LIMIT", "1")
    servers.append((s, True))
    r = redis.Redis(port=s.port)
    assert r.info("modules")["ai_backend_memory_limit"] == 1
    assert r.config_get("ai.backend_memory_limit") == {"ai.backend_memory_limit": "1"}
    with pytest.raises(redis.ResponseError, match="immutable"):
        r.config_set("ai.backend_memory_limit", 100)
    assert r.config_get("ai.backend_memory_limit") == {"ai.backend_memory_limit": "1"}
    # A 5 MB model and a run allocating several MB pass a 1 MB cap: it is not held ...
    assert r.execute_command("AI.MODELSTORE", "wide", "ONNX", "CPU", "BLOB",
                             model_bytes("wide.onnx")) == b"OK"
    assert r.execute_command("AI.MODELSTORE", "slow", "ONNX", "CPU", "BLOB",
                             model_bytes("slow.onnx")) == b"OK"
    r.execute_command("AI.TENSORSET", "n", "INT64", 2, "VALUES", 500, 500)
    t = time.time()
    assert r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "n", "OUTPUTS", 1,
                             "y") == b"OK"
    print(f"\nBACKEND_MEMORY_LIMIT 1: 5 MB model stored, 500x500 slow run OK in "
          f"{time.time() - t:.2f} s")
    # ... and the log says so when the backend loads.
    warning = "BACKEND_MEMORY_LIMIT 1 MB is not enforced by the ONNX backend"
    assert [line for line in s.log().splitlines() if warning in line], s.log()[-2000:]

    # Without the setting: 0, and no warning.
    d = start()
    servers.append((d, True))
    rd = redis.Redis(port=d.port)
    assert rd.info("modules")["ai_backend_memory_limit"] == 0
    assert rd.execute_command("AI.MODELSTORE", "wide", "ONNX", "CPU", "BLOB",
                              model_bytes("wide.onnx")) == b"OK"
    assert "BACKEND_MEMORY_LIMIT" not in d.log()


# ---------------------------------------------------------------------------------------------
# 4. Lifecycles.


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def send_raw(port, *cmd):
    """A raw connection with `cmd` sent and its reply not read."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(resp(*cmd))
    return sock


class Call(threading.Thread):
    """Runs one command on its own connection; `.reply`, `.error`, `.seconds`."""

    def __init__(self, port, *cmd):
        super().__init__(daemon=True)
        self.client = redis.Redis(port=port, socket_timeout=30)
        self.cmd = cmd
        self.reply = self.error = None
        self.start()

    def run(self):
        t = time.time()
        try:
            self.reply = self.client.execute_command(*self.cmd)
        except Exception as e:  # noqa: BLE001 — recorded for the test to check
            self.error = e
        self.seconds = time.time() - t


def slow_server(servers, *module_args):
    s = start(*module_args)
    servers.append((s, True))
    r = redis.Redis(port=s.port)
    assert r.execute_command("AI.MODELSTORE", "slow", "ONNX", "CPU", "BLOB",
                             model_bytes("slow.onnx")) == b"OK"
    for n in (8, 600, 700, 800):
        r.execute_command("AI.TENSORSET", f"n{n}", "INT64", 2, "VALUES", n, n)
    return s, r


def stats(r, key):
    info = r.execute_command("AI.INFO", key)
    return dict(zip((k.decode() for k in info[0::2]), info[1::2]))


def wait_blocked(r, count, timeout=5):
    deadline = time.time() + timeout
    while r.info("clients")["blocked_clients"] < count:
        assert time.time() < deadline, r.info("clients")
        time.sleep(0.01)


def test_timeout_behind_a_busy_queue(servers):
    s, r = slow_server(servers)
    busy = Call(s.port, "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n700", "OUTPUTS", 1, "busy")
    wait_blocked(r, 1)
    time.sleep(0.05)  # the worker has taken it
    single = Call(s.port, "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n8", "OUTPUTS", 1, "late",
                  "TIMEOUT", 50)
    dag = Call(s.port, "AI.DAGEXECUTE", "LOAD", 1, "n8", "PERSIST", 1, "late_dag",
               "TIMEOUT", 50,
               "|>", "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n8", "OUTPUTS", 1, "late_dag")
    for c in (busy, single, dag):
        c.join(15)
        assert not c.is_alive(), c.cmd
    print(f"\nTIMEOUT 50 ms behind a {busy.seconds:.2f} s run: MODELEXECUTE answered "
          f"after {single.seconds:.2f} s, DAGEXECUTE after {dag.seconds:.2f} s")
    assert busy.error is None and busy.reply == b"OK" and r.exists("busy")
    assert single.error is None and single.reply == b"TIMEDOUT"
    assert dag.error is None and dag.reply == b"TIMEDOUT"
    assert not r.exists("late", "late_dag")
    # The queue is free again: a run with a generous TIMEOUT completes.
    assert r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "n8", "OUTPUTS", 1, "y",
                             "TIMEOUT", 10000) == b"OK"
    assert r.info("clients")["blocked_clients"] == 0


def test_clients_disconnecting_mid_run(servers):
    s, r = slow_server(servers)
    t = time.time()
    running = send_raw(s.port, "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n700", "OUTPUTS", 1, "a")
    wait_blocked(r, 1)
    queued = [
        send_raw(s.port, "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n600", "OUTPUTS", 1, "b"),
        send_raw(s.port, "AI.DAGEXECUTE", "LOAD", 1, "n600", "PERSIST", 1, "c",
                 "|>", "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n600", "OUTPUTS", 1, "c"),
        send_raw(s.port, "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n8", "OUTPUTS", 1, "d",
                 "TIMEOUT", 10),
    ]
    wait_blocked(r, 4)
    for sock in [running] + queued:
        sock.close()
    # The server answers at once (the main thread is not held by the runs) ...
    t_ping = time.time()
    assert r.ping()
    ping_s = time.time() - t_ping
    # ... and later runs work.
    assert r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "n8", "OUTPUTS", 1,
                             "after", "TIMEOUT", 20000) == b"OK"
    assert values(r, "after") == [0.0]
    deadline = time.time() + 10
    while r.info("clients")["connected_clients"] > 1 or r.info("clients")["blocked_clients"]:
        assert time.time() < deadline, r.info("clients")
        time.sleep(0.02)
    print(f"\ndisconnects: 4 clients closed mid-run, PING {ping_s * 1000:.1f} ms, next run done "
          f"{time.time() - t:.2f} s after the first was sent")
    assert_healthy(s)


def test_modeldel_during_a_run(servers):
    s, r = slow_server(servers)
    running = Call(s.port, "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n700", "OUTPUTS", 1, "a")
    wait_blocked(r, 1)
    queued = Call(s.port, "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n8", "OUTPUTS", 1, "b")
    wait_blocked(r, 2)
    assert r.execute_command("AI.MODELDEL", "slow") == b"OK"
    assert not r.exists("slow")
    for c in (running, queued):
        c.join(15)
        assert not c.is_alive()
        # Completes, or fails with a clean error reply; never hangs or crashes.
        assert c.reply == b"OK" or isinstance(c.error, redis.ResponseError), (c.reply, c.error)
    print(f"\nMODELDEL during a run: running -> {running.reply or running.error} "
          f"({running.seconds:.2f} s), queued -> {queued.reply or queued.error}")
    if running.reply == b"OK":
        assert r.execute_command("AI.TENSORGET", "a", "META")[1] == b"FLOAT"
    with pytest.raises(redis.ResponseError, match="^model key is empty$"):
        r.execute_command("AI.MODELGET", "slow", "META")
    with pytest.raises(redis.ResponseError, match="^model key is empty$"):
        r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "n8", "OUTPUTS", 1, "c")
    with pytest.raises(redis.ResponseError, match="^cannot find run info for key$"):
        r.execute_command("AI.INFO", "slow")
    assert "slow" not in [k.decode() for k, _ in r.execute_command("AI._MODELSCAN")]

    # Deleted and stored again while a run of the old model is in flight: the old run's
    # completion does not count in the new model's statistics.
    assert r.execute_command("AI.MODELSTORE", "slow", "ONNX", "CPU", "BLOB",
                             model_bytes("slow.onnx")) == b"OK"
    running = Call(s.port, "AI.MODELEXECUTE", "slow", "INPUTS", 1, "n700", "OUTPUTS", 1, "a")
    wait_blocked(r, 1)
    assert r.delete("slow") == 1
    assert r.execute_command("AI.MODELSTORE", "slow", "ONNX", "CPU", "TAG", "new", "BLOB",
                             model_bytes("slow.onnx")) == b"OK"
    running.join(15)
    assert running.reply == b"OK" or isinstance(running.error, redis.ResponseError)
    st = stats(r, "slow")
    assert st["tag"] == b"new" and st["calls"] == 0 and st["errors"] == 0, st
    assert r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "n8", "OUTPUTS", 1,
                             "c") == b"OK"
    assert stats(r, "slow")["calls"] == 1


@pytest.mark.parametrize("case", ["queued", "long-run"])
def test_shutdown_nosave_with_runs_queued(servers, case):
    """queued: six runs of about 1.3 s each wait on the one worker. long-run: the running
    op takes ~10 s (n = [1800, 1800], with MODEL_EXECUTION_TIMEOUT raised so nothing stops
    it), more runs wait behind it."""
    if case == "queued":
        s, r = slow_server(servers)
        n = "n800"
    else:
        s, r = slow_server(servers, "MODEL_EXECUTION_TIMEOUT", "60000")
        r.execute_command("AI.TENSORSET", "n1800", "INT64", 2, "VALUES", 1800, 1800)
        n = "n1800"
    servers[-1] = (s, False)  # it is meant to exit
    clients = [send_raw(s.port, "AI.MODELEXECUTE", "slow", "INPUTS", 1, n, "OUTPUTS", 1,
                        f"out{i}") for i in range(6)]
    wait_blocked(r, len(clients))
    time.sleep(0.1)  # the first run is under way
    t = time.time()
    with pytest.raises(redis.ConnectionError):
        r.execute_command("SHUTDOWN", "NOSAVE")
    while s.proc.poll() is None and time.time() - t < 30:
        time.sleep(0.01)
    seconds = time.time() - t
    code = s.proc.poll()
    for sock in clients:
        sock.close()
    log = s.log()
    print(f"\nSHUTDOWN NOSAVE ({case}, 6 runs of slow {n}): exited in {seconds:.2f} s, "
          f"code {code}")
    assert code is not None, "the server did not exit"
    assert seconds < 5, seconds
    assert code == 0, code
    assert "ready to exit, bye bye" in log, log[-2000:]
    assert not crash_lines(log), crash_lines(log)
