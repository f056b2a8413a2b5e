"""TorchScript scripts through redisai-py 1.3.0, unchanged (scriptstore / scriptexecute /
scriptget / scriptdel / scriptset / scriptrun / dag), with RedisAI's error texts, and what a
script may reach: its `redis.execute` runs as the calling user, on declared KEYS only.

Needs the TORCH plugin built against libtorch (`make deps-torch`); without it every test here
fails with a message saying so (CI always has it).
"""

import os
import time
from pathlib import Path

import numpy as np
import pytest
import redis
import redisai

from redis_server import ROOT, RedisServer

SCRIPT = """
def bar(tensors: List[Tensor], keys: List[str], args: List[str]):
    a = tensors[0]
    b = tensors[1]
    return a + b

def bar_variadic(tensors: List[Tensor], keys: List[str], args: List[str]):
    a = tensors[0]
    l = tensors[1:]
    return a + l[0]

def int_set_get(tensors: List[Tensor], keys: List[str], args: List[str]):
    key = keys[0]
    value = int(args[0])
    redis.execute("SET", key, str(value))
    res = redis.execute("GET", key)
    return torch.tensor([int(str(res))])

def read_key(tensors: List[Tensor], keys: List[str], args: List[str]):
    res = redis.execute("GET", args[0])
    return torch.tensor([int(str(res))])

def list_len(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("RPUSH", keys[0], "1", "2", "3")
    res = redis.asList(redis.execute("LRANGE", keys[0], "0", "-1"))
    return torch.tensor([len(res)])

def scale(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * float(args[0]), tensors[0].sum()

def index_error(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[5]

def no_tensor(tensors: List[Tensor], keys: List[str], args: List[str]):
    return 1
"""
ENTRY_POINTS = ["bar", "bar_variadic", "int_set_get", "read_key", "list_len", "scale",
                "index_error", "no_tensor"]


def require_torch(con):
    try:
        con.execute_command("AI.SCRIPTSTORE", "probe", "CPU", "ENTRY_POINTS", 1, "f",
                            "SOURCE", "def f(tensors: List[Tensor], keys: List[str], "
                                      "args: List[str]):\n    return tensors[0]\n")
    except redis.ResponseError as e:
        pytest.fail(f"the TORCH backend is not available ({e}): run `make deps-torch` and rebuild")
    con.delete("probe")


@pytest.fixture
def con(server):
    c = redisai.Client(host="127.0.0.1", port=server.port)
    require_torch(c)
    return c


def store(con, key="s"):
    assert con.scriptstore(key, "CPU", SCRIPT, ENTRY_POINTS, tag="v1") == "OK"


def test_scriptexecute_matches_numpy(con):
    store(con)
    a = np.array([[2, 3], [2, 3]], dtype=np.float32)
    b = np.array([[2, 3], [2, 3]], dtype=np.float32)
    con.tensorset("a", a)
    con.tensorset("b", b)
    assert con.scriptexecute("s", "bar", inputs=["a", "b"], outputs=["c"]) == "OK"
    np.testing.assert_array_equal(con.tensorget("c"), a + b)
    assert con.scriptexecute("s", "bar_variadic", inputs=["a", "b"], outputs=["d"]) == "OK"
    np.testing.assert_array_equal(con.tensorget("d"), a + b)
    assert con.scriptexecute("s", "scale", inputs=["a"], args=["2.5"],
                             outputs=["x2", "sum"]) == "OK"
    np.testing.assert_allclose(con.tensorget("x2"), a * 2.5)
    total = con.tensorget("sum")
    assert total.shape == () and float(total) == a.sum()

    info = con.infoget("s")
    assert info["type"] == "SCRIPT" and info["backend"] == "TORCH" and info["tag"] == "v1"
    assert info["calls"] == 3 and info["errors"] == 0 and info["samples"] == -1
    assert con.scriptscan() == [["s", "v1"]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int16, np.int32,
                                   np.int64, np.uint8, np.bool_])
def test_every_torch_dtype_round_trips(con, dtype):
    store(con)
    x = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
    con.tensorset("x", x)
    con.tensorset("y", np.zeros_like(x))
    assert con.scriptexecute("s", "bar", inputs=["x", "y"], outputs=["z"]) == "OK"
    got = con.tensorget("z")
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, x + np.zeros_like(x))


def test_scriptget_scriptdel(con):
    store(con)
    meta = con.scriptget("s", meta_only=True)
    assert meta["device"] == "CPU" and meta["tag"] == "v1"
    full = con.scriptget("s")
    assert full["source"] == SCRIPT
    raw = con.execute_command("AI.SCRIPTGET", "s", "META")
    assert raw[0::2] == [b"device", b"tag", b"Entry Points"]
    assert [e.decode() for e in raw[5]] == ENTRY_POINTS
    assert con.execute_command("AI.SCRIPTGET", "s", "SOURCE") == SCRIPT.encode()
    assert con.scriptdel("s") == "OK"
    for cmd in (["AI.SCRIPTGET", "s"], ["AI.SCRIPTDEL", "s"],
                ["AI.SCRIPTEXECUTE", "s", "bar", "INPUTS", 1, "a"]):
        with pytest.raises(redis.ResponseError, match="^script key is empty$"):
            con.execute_command(*cmd)
    con.set("str", "x")
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        con.execute_command("AI.SCRIPTGET", "str")


def err(con, *cmd):
    with pytest.raises(redis.ResponseError) as e:
        con.execute_command(*cmd)
    return str(e.value)


def test_store_errors_are_upstreams(con):
    assert err(con, "AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE", "return 1") \
        .startswith("expected def but found 'return' here:")
    assert err(con, "AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "nope", "SOURCE", SCRIPT) \
        == "Function nope does not exist in the given script."
    two = "def f(a: List[Tensor], b: List[str]):\n    return a[0]\n"
    assert err(con, "AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE", two) \
        == "Wrong number of inputs in function f. Expected 3 but was 2"
    typed = "def f(a: Tensor, b: List[str], c: List[str]):\n    return a\n"
    assert err(con, "AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE", typed) \
        == ("Wrong inputs type in function f. Expected signature similar to: def f(tensors: "
            "List[Tensor], keys: List[str], args: List[str])")
    assert err(con, "AI.SCRIPTSTORE", "s", "TPU", "ENTRY_POINTS", 1, "bar", "SOURCE", SCRIPT) \
        == "unsupported device"
    assert err(con, "AI.SCRIPTSTORE", "s", "GPU", "ENTRY_POINTS", 1, "bar", "SOURCE", SCRIPT) \
        == "GPU requested but Torch couldn't find CUDA"
    assert err(con, "AI.SCRIPTSTORE", "s", "CPU", "SOURCE", SCRIPT, "x", "y", "z") \
        == "Insufficient arguments, missing script entry points"
    assert not con.exists("s")


def test_run_errors(con):
    store(con)
    con.tensorset("a", np.ones((2, 2), dtype=np.float32))
    assert err(con, "AI.SCRIPTEXECUTE", "s", "bar") \
        == "KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"
    assert err(con, "AI.SCRIPTEXECUTE", "s", "bar", "INPUTS", 1, "missing") \
        == "tensor key is empty or in a different shard"
    assert err(con, "AI.SCRIPTEXECUTE", "s", "wrong_fn", "INPUTS", 1, "a", "OUTPUTS", 1, "o") \
        == "Function does not exist: wrong_fn"
    assert "out of range" in err(con, "AI.SCRIPTEXECUTE", "s", "index_error", "INPUTS", 1, "a",
                                 "OUTPUTS", 1, "o")
    assert err(con, "AI.SCRIPTEXECUTE", "s", "no_tensor", "INPUTS", 1, "a", "OUTPUTS", 1, "o") \
        == "Function returned non-tensor valuesno_tensor"
    assert err(con, "AI.SCRIPTEXECUTE", "s", "bar_variadic", "INPUTS", 2, "a", "a",
               "OUTPUTS", 2, "o", "p") == "Function returned unexpected number of outputs - bar_variadic"
    assert not con.exists("o") and not con.exists("p")
    # Run failures count; the parse error (a missing tensor) does not.
    assert con.infoget("s")["errors"] == 4


def test_redis_calls_from_scripts(con):
    store(con)
    assert con.scriptexecute("s", "int_set_get", keys=["x"], args=["3"], outputs=["y"]) == "OK"
    assert con.get("x") == b"3"
    assert con.tensorget("y").tolist() == [3]
    assert con.scriptexecute("s", "list_len", keys=["l"], outputs=["n"]) == "OK"
    assert con.tensorget("n").tolist() == [3]
    # A key the caller did not declare is out of reach, even for the default user.
    con.set("secret", "42")
    assert err(con, "AI.SCRIPTEXECUTE", "s", "read_key", "KEYS", 1, "x", "ARGS", 1, "secret",
               "OUTPUTS", 1, "o") == ("Redis command returned an error: ERR script tried to "
                                      "access key 'secret' that was not declared in KEYS")
    assert con.scriptexecute("s", "read_key", keys=["secret"], args=["secret"],
                             outputs=["o"]) == "OK"
    assert con.tensorget("o").tolist() == [42]


def test_acl_limits_what_a_script_reaches(server, con):
    store(con, "app:s")  # the script key is a key too: the user must be able to read it
    con.set("secret", "42")
    con.set("app:x", "7")
    con.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~app:*", "+@all")
    con.execute_command("ACL", "SETUSER", "noset", "on", ">pw", "~*", "+@all", "-set")
    app = redis.Redis(host="127.0.0.1", port=server.port, username="app", password="pw")
    noset = redis.Redis(host="127.0.0.1", port=server.port, username="noset", password="pw")
    # Declaring a forbidden key is refused by Redis itself (the KEYS are the command's keys).
    for c in (["AI.SCRIPTEXECUTE", "app:s", "read_key", "KEYS", 1, "secret", "ARGS", 1, "secret",
               "OUTPUTS", 1, "app:o"],):
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.execute_command(*c)
    # Allowed keys work, as the user.
    assert app.execute_command("AI.SCRIPTEXECUTE", "app:s", "read_key", "KEYS", 1, "app:x",
                               "ARGS", 1, "app:x", "OUTPUTS", 1, "app:o") == b"OK"
    # A command the user may not run is refused inside the script too.
    with pytest.raises(redis.ResponseError, match="NOPERM"):
        noset.execute_command("AI.SCRIPTEXECUTE", "app:s", "int_set_get", "KEYS", 1, "k",
                              "ARGS", 1, "5", "OUTPUTS", 1, "o")
    assert not con.exists("k")
    # The default user can, with the same script.
    assert con.scriptexecute("app:s", "int_set_get", keys=["k"], args=["5"], outputs=["o"]) == "OK"
    assert con.get("k") == b"5"


def test_dags_with_scripts(con):
    store(con)
    con.tensorset("a", np.array([1, 2], dtype=np.float32))
    out = con.execute_command(
        "AI.DAGEXECUTE", "LOAD", 1, "a", "PERSIST", 1, "c",
        "|>", "AI.TENSORSET", "b", "FLOAT", 2, "VALUES", 10, 20,
        "|>", "AI.SCRIPTEXECUTE", "s", "bar", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c",
        "|>", "AI.TENSORGET", "c", "VALUES")
    assert out[:2] == [b"OK", b"OK"] and [float(v) for v in out[2]] == [11, 22]
    assert con.tensorget("c").tolist() == [11, 22]
    assert err(con, "AI.DAGEXECUTE_RO", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "bar",
               "INPUTS", 2, "a", "a") \
        == "AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG"
    # A read-only DAG may run a legacy script, but the script may not write.
    with pytest.raises(redis.ResponseError):
        con.execute_command("AI.DAGRUN_RO", "|>", "AI.SCRIPTRUN", "s", "int_set_get",
                            "INPUTS", "a", "OUTPUTS", "o")
    assert not con.exists("o")
    failed = con.execute_command(
        "AI.DAGEXECUTE", "LOAD", 1, "a", "PERSIST", 1, "z",
        "|>", "AI.SCRIPTEXECUTE", "s", "wrong_fn", "INPUTS", 1, "a", "OUTPUTS", 1, "z",
        "|>", "AI.TENSORGET", "z", "VALUES")
    assert str(failed[0]) == "Function does not exist: wrong_fn" and failed[1] == b"NA"
    assert not con.exists("z")


def test_legacy_scriptset_scriptrun(con):
    legacy = ("def add(a, b):\n    return a + b\n\n"
              "def cat(first: Tensor, rest: List[Tensor]):\n    return torch.cat([first] + rest)\n"
              "def bad(a: int):\n    return a\n")
    assert con.scriptset("old", "CPU", legacy) == "OK"
    con.tensorset("a", np.array([1, 2], dtype=np.float32))
    con.tensorset("b", np.array([3, 4], dtype=np.float32))
    assert con.scriptrun("old", "add", inputs=["a", "b"], outputs=["c"]) == "OK"
    assert con.tensorget("c").tolist() == [4, 6]
    assert con.execute_command("AI.SCRIPTRUN", "old", "cat", "INPUTS", "a", "$", "b", "b",
                               "OUTPUTS", "d") == b"OK"
    assert con.tensorget("d").tolist() == [1, 2, 3, 4, 3, 4]
    assert err(con, "AI.SCRIPTRUN", "old", "add", "INPUTS", "a", "OUTPUTS", "c") \
        == "Wrong number of inputs provided to function: add"
    assert err(con, "AI.SCRIPTRUN", "old", "bad", "INPUTS", "a", "OUTPUTS", "c") \
        == "Unsupported input type in function definition: bad"
    assert con.execute_command("AI.SCRIPTGET", "old", "META")[5] == []


def test_script_runs_a_stored_model(con):
    """redisAI.model_execute: an ONNX model called from a TorchScript script."""
    model_script = """
def run_model(tensors: List[Tensor], keys: List[str], args: List[str]):
    out = redisAI.model_execute(keys[0], tensors, 1)
    return out[0] * 2
"""
    assert con.scriptstore("ms", "CPU", model_script, ["run_model"]) == "OK"
    models = Path(os.environ.get("REDISAI_TEST_MODELS", ROOT / "target/test-models"))
    assert con.modelstore("m", "ONNX", "CPU", (models / "mlp.onnx").read_bytes()) == "OK"
    x = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    con.tensorset("x", x)
    assert con.modelexecute("m", inputs=["x"], outputs=["p"]) == "OK"
    assert con.scriptexecute("ms", "run_model", keys=["m"], inputs=["x"], outputs=["o"]) == "OK"
    np.testing.assert_allclose(con.tensorget("o"), con.tensorget("p") * 2, rtol=1e-6)
    assert con.infoget("m")["calls"] == 2
    assert "model key is empty" in err(con, "AI.SCRIPTEXECUTE", "ms", "run_model", "KEYS", 1,
                                       "nomodel", "INPUTS", 1, "x", "OUTPUTS", 1, "o")


def test_scripts_survive_reload_and_aof(tmp_path):
    s = RedisServer(server_args=("--enable-debug-command", "yes", "--appendonly", "yes",
                                 "--aof-use-rdb-preamble", "no"))
    try:
        con = redisai.Client(host="127.0.0.1", port=s.port)
        require_torch(con)
        store(con)
        assert con.scriptset("old", "CPU", "def add(a, b):\n    return a + b\n") == "OK"
        before = {k: con.execute_command("AI.SCRIPTGET", k) for k in ("s", "old")}
        digest = con.execute_command("DEBUG", "DIGEST-VALUE", "s", "old")
        assert con.execute_command("DEBUG", "RELOAD") == b"OK"
        assert {k: con.execute_command("AI.SCRIPTGET", k) for k in ("s", "old")} == before
        assert con.execute_command("DEBUG", "DIGEST-VALUE", "s", "old") == digest
        assert con.execute_command("BGREWRITEAOF")
        for _ in range(100):
            if con.info("persistence")["aof_rewrite_in_progress"] == 0:
                break
            time.sleep(0.05)
        assert con.execute_command("DEBUG", "LOADAOF") == b"OK"
        assert {k: con.execute_command("AI.SCRIPTGET", k) for k in ("s", "old")} == before
        con.tensorset("a", np.ones(2, dtype=np.float32))
        assert con.scriptexecute("s", "bar", inputs=["a", "a"], outputs=["c"]) == "OK"
        assert con.tensorget("c").tolist() == [2, 2]
        assert con.memory_usage("s") > len(SCRIPT)
    finally:
        s.stop()


def test_script_writes_replicate_and_respect_maxmemory():
    """What a script writes through redis.execute reaches replicas (the script itself never
    runs there), and deny-oom commands are refused inside scripts over maxmemory."""
    master = RedisServer()
    replica = RedisServer()
    try:
        m = redisai.Client(host="127.0.0.1", port=master.port)
        require_torch(m)
        r = redisai.Client(host="127.0.0.1", port=replica.port)
        r.execute_command("REPLICAOF", "127.0.0.1", master.port)
        for _ in range(200):
            if r.info("replication")["master_link_status"] == "up":
                break
            time.sleep(0.05)
        store(m)
        assert m.scriptexecute("s", "int_set_get", keys=["x"], args=["3"], outputs=["y"]) == "OK"
        assert m.execute_command("WAIT", 1, 5000) == 1
        assert r.get("x") == b"3" and r.tensorget("y").tolist() == [3]
        assert r.infoget("s")["calls"] == 0  # the replica never ran it
        # Over maxmemory nothing is written (Redis refuses the deny-oom command itself; the
        # script's own calls carry the M flag for the cases that get that far).
        m.config_set("maxmemory", 1)
        assert "maxmemory" in err(m, "AI.SCRIPTEXECUTE", "s", "int_set_get", "KEYS", 1, "z",
                            "ARGS", 1, "4", "OUTPUTS", 1, "o")
        m.config_set("maxmemory", 0)
        assert not m.exists("z") and not m.exists("o")
    finally:
        replica.stop()
        master.stop()
