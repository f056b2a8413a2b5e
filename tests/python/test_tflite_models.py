"""TFLite models through redisai-py 1.3.0 (`modelstore(key, 'TFLITE', 'CPU', blob)`, tensorset,
modelexecute, tensorget), checked against what ai-edge-litert's own Python interpreter answered
for the same models and inputs.

The models and the oracle's answers are committed in tests/models/tflite (written by
tests/models/make_tflite_models.py with TensorFlow; see there). Needs the TFLITE plugin and
LiteRT beside it (`make deps-tflite`): without them these tests fail saying so.
"""

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import redis
import redisai

from redis_server import ROOT, RedisServer

STOPPED = "terminate flag"
from test_models import model_bytes

TFLITE = ROOT / "tests/models/tflite"
EXPECTED = json.loads((TFLITE / "expected.json").read_text())
NP = {"FLOAT": np.float32, "DOUBLE": np.float64, "INT8": np.int8, "INT16": np.int16,
      "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8, "BOOL": np.bool_}
TYPE_MISMATCH = "Input tensor type doesn't match the type expected by the model definition"


def array(t):
    return np.array(t["values"], dtype=NP[t["dtype"]]).reshape(t["shape"])


def blob(name):
    return (TFLITE / EXPECTED[name]["model"]).read_bytes()


def cases(name):
    return [([array(t) for t in c["inputs"]], [array(t) for t in c["outputs"]])
            for c in EXPECTED[name]["cases"]]


@pytest.fixture
def con(server):
    c = redisai.Client(host="127.0.0.1", port=server.port)
    try:
        c.modelstore("probe", "TFLITE", "CPU", blob("mlp"))
    except redis.ResponseError as e:
        pytest.fail(f"the TFLITE backend does not load ({e}): run `make deps-tflite` "
                    "(the reason is in the server log)")
    c.delete("probe")
    return c


def execute(con, key, inputs, n_out, prefix=""):
    ins = [f"{prefix}in{i}" for i in range(len(inputs))]
    outs = [f"{prefix}out{i}" for i in range(n_out)]
    for k, v in zip(ins, inputs):
        con.tensorset(k, v)
    assert con.modelexecute(key, inputs=ins, outputs=outs) == "OK"
    return [con.tensorget(k) for k in outs]


def test_quantized_mnist_classifies_as_the_oracle(con):
    """Full-integer model, uint8 in and out: the very bytes the interpreter gave, so the
    classes too (a 1, a 7 and a 3 from scikit-learn's digits, then all three as one batch)."""
    con.modelstore("mnist", "TFLITE", "CPU", blob("mnist_quant"))
    classes = []
    for inputs, (want,) in cases("mnist_quant"):
        (got,) = execute(con, "mnist", inputs, 1)
        assert got.dtype == np.uint8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        classes.append(list(np.argmax(got, axis=1)))
    assert classes == [[1], [7], [3], [1, 7, 3]]


def test_redisai_shaped_quantized_model(con):
    """RedisAI's test model's interface: FLOAT [1,1,28,28] in, the class (INT64) and its
    probability out, over dynamic-range quantized (hybrid) kernels."""
    con.modelstore("mnist", "TFLITE", "CPU", blob("mnist_dynamic"))
    for inputs, (klass, prob) in cases("mnist_dynamic"):
        got_class, got_prob = execute(con, "mnist", inputs, 2)
        assert got_class.dtype == np.int64
        np.testing.assert_array_equal(got_class, klass)
        np.testing.assert_allclose(got_prob, prob, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["mlp", "addmul"])
def test_float_models_match_the_oracle(con, name):
    con.modelstore("m", "TFLITE", "CPU", blob(name), tag="t1")
    for inputs, outputs in cases(name):
        got = execute(con, "m", inputs, len(outputs))
        for g, w in zip(got, outputs):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    info = con.infoget("m")
    assert info["backend"] == "TFLITE" and info["errors"] == 0
    assert info["calls"] == len(cases(name))


def test_every_dtype_the_backend_takes(con):
    con.modelstore("d", "TFLITE", "CPU", blob("dtypes"))
    ((inputs, outputs),) = cases("dtypes")
    got = execute(con, "d", inputs, len(outputs))
    for g, w in zip(got, outputs):
        assert g.dtype == w.dtype and g.shape == w.shape, (g, w)
        np.testing.assert_array_equal(g, w)


def test_modelget_meta_names_the_tensors(con):
    b = blob("addmul")
    con.modelstore("m", "TFLITE", "cpu", b)
    meta = con.modelget("m", meta_only=True)
    assert meta["backend"] == "TFLITE" and meta["device"] == "cpu"
    assert meta["inputs"] == EXPECTED["addmul"]["inputs"]
    assert meta["outputs"] == EXPECTED["addmul"]["outputs"]
    assert con.modelget("m")["blob"] == b


def test_info_shows_the_engine_once_loaded(server):
    con = redis.Redis(port=server.port)
    assert "ai_TensorFlowLite_version" not in con.info("ai")
    redisai.Client(port=server.port).modelstore("m", "TFLITE", "CPU", blob("mlp"))
    assert con.info("ai")["ai_TensorFlowLite_version"] == "2.3.0"


def test_dag_mixes_tflite_and_onnx(con):
    """ONNX addmul (sum, matrix product) feeds TFLITE addmul (sum, elementwise product)."""
    con.modelstore("onnx", "ONNX", "CPU", model_bytes("addmul.onnx"))
    con.modelstore("lite", "TFLITE", "CPU", blob("addmul"))
    a = np.array([[1, 2], [3, 4]], np.float32)
    b = np.array([[0.5, -1], [2, 0.25]], np.float32)
    dag = con.dag(persist=["q"])
    dag.tensorset("a", a).tensorset("b", b)
    dag.modelexecute("onnx", inputs=["a", "b"], outputs=["s", "p"])
    dag.modelexecute("lite", inputs=["s", "p"], outputs=["r", "q"])
    dag.tensorget("r")
    *_, r = dag.execute()
    s, p = a + b, a @ b
    np.testing.assert_allclose(r, s + p, rtol=1e-6)
    np.testing.assert_allclose(con.tensorget("q"), s * p, rtol=1e-6)


def test_batching_gives_each_client_its_rows(con, server):
    """Two clients' runs of a BATCHSIZE model are joined into one run of LiteRT (the host
    concatenates and splits; the plugin resizes the input to the joined batch)."""
    con.modelstore("mlp", "TFLITE", "CPU", blob("mlp"), batch=8, minbatch=4, minbatchtimeout=2000)
    (one, (want_one,)), (three, (want_three,)) = [(i[0], o) for i, o in cases("mlp")]
    results, errors = {}, []

    def run(name, x):
        try:
            c = redisai.Client(host="127.0.0.1", port=server.port)
            c.tensorset(f"x{name}", x)
            c.modelexecute("mlp", inputs=[f"x{name}"], outputs=[f"y{name}"])
            results[name] = c.tensorget(f"y{name}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=a) for a in (("1", one), ("3", three))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    np.testing.assert_allclose(results["1"], want_one, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results["3"], want_three, rtol=1e-5, atol=1e-6)
    # Both ran in one batch: MINBATCHSIZE 4 is reached only by 1 + 3 rows together.
    info = con.infoget("mlp")
    assert info["calls"] == 2 and info["samples"] == 4


def test_errors_are_redisai_texts_and_change_nothing(con):
    def err(*args):
        with pytest.raises(redis.ResponseError) as e:
            con.execute_command(*args)
        return str(e.value)

    assert err("AI.MODELSTORE", "m", "TFLITE", "CPU", "BLOB", b"not a flatbuffer") == \
        "Failed to load model from buffer"
    assert err("AI.MODELSTORE", "m", "TFLITE", "GPU", "BLOB", blob("mlp")) == \
        "Failed to set GPU delegate"
    assert err("AI.MODELSTORE", "m", "TFLITE", "CPU", "INPUTS", 1, "x", "OUTPUTS", 1, "y",
               "BLOB", blob("mlp")) == "INPUTS argument should not be specified for this backend"
    assert err("AI.MODELSET", "m", "TFLITE", "CPU", "BATCHSIZE", 2, "BLOB", blob("mlp")) == \
        "Auto-batching not supported by the TFLITE backend"
    assert con.exists("m") == 0

    con.modelstore("m", "TFLITE", "CPU", blob("addmul"))
    con.tensorset("a", np.ones((2, 2), np.float32))
    con.tensorset("i", np.ones((2, 2), np.int32))
    assert err("AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 2, "x", "y") == \
        "Number of keys given as INPUTS here does not match model definition"
    assert err("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "i", "OUTPUTS", 2, "x", "y") == \
        TYPE_MISMATCH
    # Shapes the model cannot take are refused by LiteRT (RedisAI's text), not a crash.
    con.tensorset("big", np.ones((2, 3), np.float32))
    assert err("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "big", "OUTPUTS", 2, "x", "y") == \
        "Failed to allocate tensors"
    assert con.exists("x") == 0 and con.exists("y") == 0
    # The count is checked when the command is parsed (not a run); the other two ran and failed.
    assert con.infoget("m")["errors"] == 2
    # ... and the model still runs afterwards.
    x, y = execute(con, "m", [np.ones((2, 2), np.float32)] * 2, 2)
    np.testing.assert_array_equal(x, np.full((2, 2), 2, np.float32))


def test_debug_reload_keeps_the_model_working():
    s = RedisServer(server_args=["--enable-debug-command", "yes"])
    try:
        con = redisai.Client(host="127.0.0.1", port=s.port)
        con.modelstore("mnist", "TFLITE", "CPU", blob("mnist_quant"), tag="v2")
        assert con.execute_command("DEBUG", "RELOAD") in (b"OK", "OK", True)
        meta = con.modelget("mnist", meta_only=True)
        assert meta["backend"] == "TFLITE" and meta["tag"] == "v2"
        inputs, (want,) = cases("mnist_quant")[0]
        (got,) = execute(con, "mnist", inputs, 1)
        np.testing.assert_array_equal(got, want)
    finally:
        s.stop()


def test_without_litert_the_backend_refuses_to_load_and_says_why(tmp_path):
    """The plugin alone, without libLiteRt beside it: RedisAI's error for the client, the
    make target that installs LiteRT in the server log."""
    plugin = ROOT / "target/release/libredisai_tflite.so"
    (tmp_path / plugin.name).symlink_to(plugin)
    s = RedisServer("BACKENDSPATH", str(tmp_path))
    try:
        con = redisai.Client(host="127.0.0.1", port=s.port)
        with pytest.raises(redis.ResponseError, match="^Could not load backend$"):
            con.modelstore("m", "TFLITE", "CPU", blob("mlp"))
        assert con.exists("m") == 0
        log = (Path(s.dir) / "server.log").read_text()
        assert "make deps-tflite" in log and "libLiteRt.so.2.3.0 not found" in log
    finally:
        s.stop()


def test_execution_timeout_stops_a_long_run():
    """MODEL_EXECUTION_TIMEOUT reaches LiteRT as a cancellation callback checked between ops: a
    run of the slow model that would take many seconds fails with an error, counts as one, and
    the worker's compiled model runs again afterwards."""
    s = RedisServer("MODEL_EXECUTION_TIMEOUT", "1000")
    try:
        r = redis.Redis(port=s.port)
        slow = (TFLITE / "slow.tflite").read_bytes()
        assert r.execute_command("AI.MODELSTORE", "slow", "TFLITE", "CPU", "BLOB", slow) == b"OK"
        r.execute_command("AI.TENSORSET", "huge", "INT64", 2, "VALUES", 1600, 1600)
        with pytest.raises(redis.ResponseError, match=STOPPED):
            r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "huge", "OUTPUTS", 1, "y")
        info = r.execute_command("AI.INFO", "slow")
        stats = dict(zip(info[::2], info[1::2]))
        assert (stats[b"calls"], stats[b"errors"]) == (1, 1)
        assert r.exists("y") == 0
        r.execute_command("AI.TENSORSET", "small", "INT64", 2, "VALUES", 8, 8)
        assert r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "small",
                                 "OUTPUTS", 1, "y") == b"OK"
        assert r.execute_command("AI.TENSORGET", "y", "VALUES") == [b"0"]
    finally:
        s.stop()
