"""TensorFlow frozen graphs through the TF plugin, driven by redisai-py 1.3.0 unchanged.

The fixtures in tests/models/tf were written by tests/models/make_tf_models.py with the
tensorflow-cpu 2.21 wheel's own Python, which also recorded what TensorFlow computes for the
inputs beside each graph: the plugin must give the same. Needs TensorFlow beside the plugin
(`make deps-tf`, part of `make build`); without it these tests are skipped, saying so.
"""

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import redis
import redisai

from redis_server import ROOT, RedisServer, module_path

# TensorFlow stops the step at its deadline (RunOptions.timeout_in_ms): DEADLINE_EXCEEDED.
STOPPED = "(?i)deadline|timed out|timeout"

TF_MODELS = ROOT / "tests/models/tf"
ONNX_MODELS = Path(os.environ.get("REDISAI_TEST_MODELS", ROOT / "target/test-models"))
DTYPES = {"FLOAT": np.float32, "DOUBLE": np.float64, "INT8": np.int8, "INT16": np.int16,
          "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8, "BOOL": np.bool_}

if not (Path(module_path()).parent / "libtensorflow_cc.so.2").exists():
    pytest.skip(f"SKIPPED: no TensorFlow beside {module_path()} (run `make deps-tf`)",
                allow_module_level=True)


def fixture(name):
    meta = json.loads((TF_MODELS / f"{name}.json").read_text())
    blob = (TF_MODELS / meta["model"]).read_bytes()

    def array(t):
        if t["dtype"] == "STRING":
            return np.array(t["values"], dtype=object).reshape(t["shape"])
        return np.array(t["values"], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])

    ins = [(t["name"], array(t)) for t in meta["inputs"]]
    outs = [(t["name"], array(t)) for t in meta["outputs"]]
    return blob, ins, outs


def set_tensor(con, key, a):
    if a.dtype == object:
        values = [v.encode() for v in a.reshape(-1)]
        return con.execute_command("AI.TENSORSET", key, "STRING", *a.shape, "VALUES", *values)
    return con.tensorset(key, a)


def get_strings(con, key):
    blob = con.execute_command("AI.TENSORGET", key, "BLOB")
    return [s.decode() for s in blob.split(b"\0")[:-1]]


@pytest.fixture
def con(server):
    return redisai.Client(host="127.0.0.1", port=server.port)


def test_redisai_py_tf_example(con):
    """redisai-py's own TF usage (its test_run_tf_model), unchanged."""
    model_pb = (TF_MODELS / "graph.pb").read_bytes()
    con.modelstore("m", "tf", "cpu", model_pb, inputs=["a", "b"], outputs=["mul"], tag="v1.0")
    con.modeldel("m")
    with pytest.raises(redis.ResponseError):
        con.modelstore("m", "tf", "cpu", b"not a graph", inputs=["a", "b"], outputs=["mul"])
    con.modelstore("m", "tf", "cpu", model_pb, inputs=["a", "b"], outputs=["mul"], tag="v1.0")
    con.tensorset("a", (2, 3), dtype="float")
    con.tensorset("b", (2, 3), dtype="float")
    con.modelexecute("m", ["a", "b"], ["c"])
    assert con.tensorget("c").tolist() == [4, 9]

    dag = con.dag(load=["a", "b"], persist="d")
    dag.modelexecute("m", ["a", "b"], ["d"])
    dag.tensorget("d")
    _, result = dag.execute()
    assert result.tolist() == [4, 9]
    assert con.tensorget("d").tolist() == [4, 9]

    # The deprecated spellings.
    con.modelset("m2", "tf", "cpu", model_pb, inputs=["a", "b"], outputs=["mul"])
    con.modelrun("m2", ["a", "b"], ["e"])
    assert con.tensorget("e").tolist() == [4, 9]

    meta = con.modelget("m", meta_only=True)
    assert meta["backend"] == "TF" and meta["device"] == "cpu" and meta["tag"] == "v1.0"
    assert meta["inputs"] == ["a", "b"] and meta["outputs"] == ["mul"]
    assert con.modelget("m")["blob"] == model_pb
    info = con.infoget("m")
    assert info["backend"] == "TF" and info["calls"] == 2 and info["errors"] == 0


@pytest.mark.parametrize("name", ["graph", "mlp", "cnn", "dtypes", "strings"])
def test_outputs_match_tensorflow(con, name):
    blob, ins, outs = fixture(name)
    assert con.modelstore("m", "TF", "CPU", blob, inputs=[n for n, _ in ins],
                          outputs=[n for n, _ in outs]) == "OK"
    for i, (_, a) in enumerate(ins):
        set_tensor(con, f"in{i}", a)
    keys = [f"out{i}" for i in range(len(outs))]
    assert con.modelexecute("m", [f"in{i}" for i in range(len(ins))], keys) == "OK"
    for key, (_, want) in zip(keys, outs):
        if want.dtype == object:
            assert get_strings(con, key) == want.reshape(-1).tolist()
            assert con.tensorget(key, meta_only=True) == {"dtype": "STRING",
                                                          "shape": list(want.shape)}
            continue
        got = con.tensorget(key)
        assert got.dtype == want.dtype and got.shape == want.shape
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(got, want)
    # MODELGET META gives the names as stored, op:index ones included (mlp's "hidden:0").
    meta = con.modelget("m", meta_only=True)
    assert meta["inputs"] == [n for n, _ in ins] and meta["outputs"] == [n for n, _ in outs]


def test_error_rows_of_the_spec(con):
    blob = (TF_MODELS / "graph.pb").read_bytes()

    def err(*args):
        with pytest.raises(redis.ResponseError) as e:
            con.execute_command(*args)
        return str(e.value)

    store = ("AI.MODELSTORE", "m", "TF", "CPU")
    assert err(*store, "BLOB", blob) == "INPUTS not specified for TF"
    assert err(*store, "INPUTS", 0, "OUTPUTS", 1, "mul", "BLOB", blob) == \
        "Invalid argument for input_count"
    assert err(*store, "INPUTS", 9, "a", "b", "OUTPUTS", 1, "mul", "BLOB", blob) == \
        "number of model inputs does not match the number of given arguments"
    assert err(*store, "INPUTS", 2, "a", "b", "BLOB", blob) == "OUTPUTS not specified for TF"
    assert err(*store, "INPUTS", 2, "a", "b", "OUTPUTS", 0, "BLOB", blob) == \
        "Invalid argument for output_count"
    assert err(*store, "INPUTS", 2, "a", "b", "OUTPUTS", 5, "mul", "BLOB", blob) == \
        "number of model outputs does not match the number of given arguments"
    assert err(*store, "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul", "BLOB", b"\x01\x02garbage") == \
        "Invalid GraphDef"
    assert err(*store, "INPUTS", 2, "a", "b_", "OUTPUTS", 1, "mul", "BLOB", blob) == \
        'Input node named "b_" not found in TF graph.'
    # An input must be a placeholder, as in RedisAI.
    assert err(*store, "INPUTS", 2, "a", "mul", "OUTPUTS", 1, "mul", "BLOB", blob) == \
        'Input node named "mul" not found in TF graph.'
    assert err(*store, "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul_", "BLOB", blob) == \
        'Output node named "mul_" not found in TF graph'
    assert err(*store, "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul:1", "BLOB", blob) == \
        'Output node named "mul:1" not found in TF graph'
    assert err("AI.MODELSTORE", "m", "TF", "GPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul",
               "BLOB", blob) == "GPU requested but TF couldn't find CUDA"
    assert err("AI.MODELSET", "m", "TF", "CPU", "BLOB", blob) == \
        "Insufficient arguments, INPUTS and OUTPUTS not specified"
    assert con.exists("m") == 0

    # Run-time errors: RedisAI's count check, then TensorFlow's own words.
    con.modelstore("m", "TF", "CPU", blob, inputs=["a", "b"], outputs=["mul"])
    con.tensorset("a", np.array([2, 3], np.float32))
    con.tensorset("a3", np.array([2, 3, 4], np.float32))
    con.tensorset("d", np.array([2, 3], np.float64))
    assert err("AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "c") == \
        "Number of keys given as INPUTS here does not match model definition"
    assert err("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "a", "OUTPUTS", 2, "c", "e") == \
        "Number of keys given as OUTPUTS here does not match model definition"
    assert "Incompatible shapes: [2] vs. [3]" in err(
        "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "a3", "OUTPUTS", 1, "c")
    assert "Expects arg[1] to be float but double is provided" in err(
        "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "d", "OUTPUTS", 1, "c")
    assert con.exists("c") == 0
    info = con.infoget("m")
    assert info["calls"] == 2 and info["errors"] == 2


def test_dag_mixing_tf_and_onnx(con):
    path = ONNX_MODELS / "double.onnx"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make models`")
    blob, [(_, x)], [(_, y), _] = fixture("mlp")
    con.modelstore("tf_mlp", "TF", "CPU", blob, inputs=["x"], outputs=["y"])
    con.modelstore("double", "ONNX", "CPU", path.read_bytes())
    con.tensorset("x", x)
    out = con.execute_command(
        "AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "z", "|>",
        "AI.MODELEXECUTE", "tf_mlp", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "|>",
        "AI.MODELEXECUTE", "double", "INPUTS", 1, "y", "OUTPUTS", 1, "z", "|>",
        "AI.MODELEXECUTE", "tf_mlp", "INPUTS", 1, "x", "OUTPUTS", 1, "y2", "|>",
        "AI.TENSORGET", "y2", "BLOB")
    np.testing.assert_allclose(np.frombuffer(out[-1], np.float32).reshape(y.shape), y,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(con.tensorget("z"), 2 * y, rtol=1e-5, atol=1e-6)


def test_batching_with_concurrent_clients(server, con):
    blob, [(_, x)], [(_, y), (_, hidden)] = fixture("mlp")
    assert con.modelstore("mlp", "TF", "CPU", blob, inputs=["x:0"], outputs=["y", "hidden:0"],
                          batch=16, minbatch=4, minbatchtimeout=200) == "OK"
    # Each client sends a slice of the recorded batch; the host joins them into one run.
    errors = []

    def one(n):
        try:
            c = redisai.Client(host="127.0.0.1", port=server.port)
            c.tensorset(f"x{n}", x[n:n + 1])
            c.modelexecute("mlp", [f"x{n}"], [f"y{n}", f"h{n}"])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(x))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in range(len(x)):
        np.testing.assert_allclose(con.tensorget(f"y{n}"), y[n:n + 1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(con.tensorget(f"h{n}"), hidden[n:n + 1], rtol=1e-5, atol=1e-6)
    info = con.infoget("mlp")
    assert info["samples"] == len(x) and info["errors"] == 0
    assert info["calls"] == len(x)


def test_survives_debug_reload_dump_and_aof():
    s = RedisServer(server_args=("--enable-debug-command", "yes", "--appendonly", "yes"))
    try:
        r = redis.Redis(host="127.0.0.1", port=s.port)
        con = redisai.Client(host="127.0.0.1", port=s.port)
        blob, ins, [(_, want), _] = fixture("mlp")
        con.modelstore("m", "TF", "CPU", blob, inputs=["x"], outputs=["y", "hidden:0"], tag="t",
                       batch=4)
        con.tensorset("x", ins[0][1])

        def check(key):
            con.modelexecute(key, ["x"], ["y", "h"])
            np.testing.assert_allclose(con.tensorget("y"), want, rtol=1e-5, atol=1e-6)
            meta = con.modelget(key, meta_only=True)
            assert meta["backend"] == "TF" and meta["tag"] == "t" and meta["batchsize"] == 4
            assert meta["inputs"] == ["x"] and meta["outputs"] == ["y", "hidden:0"]
            assert con.modelget(key)["blob"] == blob

        check("m")
        assert r.execute_command("DEBUG", "RELOAD") == b"OK"
        check("m")
        payload = r.dump("m")
        assert r.restore("m2", 0, payload) == b"OK"
        check("m2")
        assert r.execute_command("BGREWRITEAOF")
        for _ in range(200):
            if r.info("persistence")["aof_rewrite_in_progress"] == 0:
                break
            threading.Event().wait(0.05)
        r.execute_command("DEBUG", "LOADAOF")
        check("m")
        check("m2")
        assert "TF backend: TensorFlow 2.21.0" in s.log()
    finally:
        s.stop()


def test_info_reports_the_version_once_loaded(con):
    r = redis.Redis(host="127.0.0.1", port=con.connection_pool.connection_kwargs["port"])
    assert "ai_TensorFlow_version" not in r.info("modules")
    con.modelstore("m", "TF", "CPU", (TF_MODELS / "graph.pb").read_bytes(),
                   inputs=["a", "b"], outputs=["mul"])
    assert r.info("modules")["ai_TensorFlow_version"] == "2.21.0"


def test_thread_settings_reach_the_session():
    s = RedisServer("INTER_OP_PARALLELISM", "2", "INTRA_OP_PARALLELISM", "3")
    try:
        con = redisai.Client(host="127.0.0.1", port=s.port)
        blob, [(_, x)], [(_, want)] = fixture("cnn")
        con.modelstore("m", "TF", "CPU", blob, inputs=["image"], outputs=["probs"])
        con.tensorset("x", x)
        con.modelexecute("m", ["x"], ["p"])
        np.testing.assert_allclose(con.tensorget("p"), want, rtol=1e-5, atol=1e-6)
    finally:
        s.stop()


def test_missing_tensorflow_gives_redisai_error(tmp_path):
    """The plugin alone in BACKENDSPATH: RedisAI's error, the reason in the log."""
    os.symlink(Path(module_path()).parent / "libredisai_tf.so", tmp_path / "libredisai_tf.so")
    s = RedisServer("BACKENDSPATH", str(tmp_path))
    try:
        con = redisai.Client(host="127.0.0.1", port=s.port)
        with pytest.raises(redis.ResponseError, match="^Could not load backend$"):
            con.modelstore("m", "TF", "CPU", (TF_MODELS / "graph.pb").read_bytes(),
                           inputs=["a", "b"], outputs=["mul"])
        assert con.exists("m") == 0
        assert "(run `make deps-tf`)" in s.log()
    finally:
        s.stop()


def test_execution_timeout_stops_a_long_run():
    """MODEL_EXECUTION_TIMEOUT reaches TF as RunOptions.timeout_in_ms: a run of the slow graph
    that would take many seconds fails with an error, counts as one, and the next run works."""
    blob, ins, outs = fixture("slow")
    s = RedisServer("MODEL_EXECUTION_TIMEOUT", "1000")
    try:
        r = redis.Redis(port=s.port)
        assert r.execute_command("AI.MODELSTORE", "slow", "TF", "CPU", "INPUTS", 1, "n",
                                 "OUTPUTS", 1, "y", "BLOB", blob) == b"OK"
        r.execute_command("AI.TENSORSET", "huge", "INT64", 2, "VALUES", 1600, 1600)
        with pytest.raises(redis.ResponseError, match=STOPPED):
            r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "huge", "OUTPUTS", 1, "y")
        info = r.execute_command("AI.INFO", "slow")
        stats = dict(zip(info[::2], info[1::2]))
        assert (stats[b"calls"], stats[b"errors"]) == (1, 1)
        assert r.exists("y") == 0
        # The session is usable again, and a short run is not cut.
        name, n = ins[0]
        r.execute_command("AI.TENSORSET", "small", "INT64", 2, "VALUES", *n.tolist())
        assert r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "small",
                                 "OUTPUTS", 1, "y") == b"OK"
        got = np.frombuffer(r.execute_command("AI.TENSORGET", "y", "BLOB"), np.float32)
        np.testing.assert_allclose(got, outs[0][1].reshape(-1), rtol=1e-5)
    finally:
        s.stop()
