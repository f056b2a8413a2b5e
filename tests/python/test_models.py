"""redisai-py 1.3.0 driving ONNX models, unchanged: modelstore / modelexecute / modelget /
tensorget / dag, and outputs equal to what ONNX Runtime's own Python package computes for the
same model and inputs.

The models come from tests/models/make_models.py (REDISAI_TEST_MODELS, built by `make models`).
"""

import os
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import redisai

MODELS = Path(os.environ.get("REDISAI_TEST_MODELS", Path(__file__).resolve().parents[2] / "target/test-models"))


def model_bytes(name):
    path = MODELS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make models` (REDISAI_TEST_MODELS={MODELS})")
    return path.read_bytes()


def reference(name, feeds):
    """What ONNX Runtime itself answers, in this process."""
    session = ort.InferenceSession(str(MODELS / name), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def client(server):
    return redisai.Client(host="127.0.0.1", port=server.port)


def test_mlp_matches_onnxruntime(server):
    con = client(server)
    blob = model_bytes("mlp.onnx")
    assert con.modelstore("mlp", "ONNX", "CPU", blob, tag="v1") == "OK"
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    assert con.tensorset("x", x) == "OK"
    assert con.modelexecute("mlp", inputs=["x"], outputs=["probs"]) == "OK"
    got = con.tensorget("probs")
    (want,) = reference("mlp.onnx", {"x": x})
    assert got.dtype == np.float32 and got.shape == (5, 3)
    np.testing.assert_array_equal(got, want)

    meta = con.modelget("mlp", meta_only=True)
    assert meta["backend"] == "ONNX"
    assert meta["device"] == "CPU"
    assert meta["tag"] == "v1"
    assert meta["batchsize"] == 0 and meta["minbatchsize"] == 0
    assert meta["inputs"] == ["x"] and meta["outputs"] == ["probs"]
    full = con.modelget("mlp")
    assert full["blob"] == blob

    info = con.infoget("mlp")
    assert info["key"] == "mlp" and info["type"] == "MODEL" and info["backend"] == "ONNX"
    assert info["calls"] == 1 and info["errors"] == 0 and info["samples"] == 5
    assert con.inforeset("mlp") == "OK"
    assert con.infoget("mlp")["calls"] == 0

    assert con.modelscan() == [["mlp", "v1"]]
    assert con.modeldel("mlp") == "OK"
    with pytest.raises(Exception, match="model key is empty"):
        con.modelget("mlp")


def test_two_inputs_two_outputs(server):
    con = client(server)
    con.modelstore("addmul", "onnx", "cpu", model_bytes("addmul.onnx"))
    a = np.array([[1, 2], [3, 4]], dtype=np.float32)
    b = np.array([[0.5, -1], [2, 0.25]], dtype=np.float32)
    con.tensorset("a", a)
    con.tensorset("b", b)
    assert con.modelexecute("addmul", ["a", "b"], ["s", "p"], timeout=5000) == "OK"
    want_sum, want_product = reference("addmul.onnx", {"a": a, "b": b})
    np.testing.assert_array_equal(con.tensorget("s"), want_sum)
    np.testing.assert_array_equal(con.tensorget("p"), want_product)


def test_integer_bool_and_string_tensors(server):
    con = client(server)
    con.modelstore("intbool", "ONNX", "CPU", model_bytes("intbool.onnx"))
    i = np.array([-3, 0, 7], dtype=np.int64)
    f = np.array([True, False, True])
    s = np.array([-5, 4, 9], dtype=np.int32)
    for key, value in (("i", i), ("f", f), ("s", s)):
        con.tensorset(key, value)
    con.modelexecute("intbool", ["i", "f", "s"], ["twice", "flipped", "halved"])
    want = reference("intbool.onnx", {"i": i, "f": f, "s": s})
    for key, w in zip(("twice", "flipped", "halved"), want):
        got = con.tensorget(key)
        assert got.dtype == w.dtype, key
        np.testing.assert_array_equal(got, w)

    con.modelstore("strings", "ONNX", "CPU", model_bytes("strings.onnx"))
    words = np.array(["a", "", "עברית"], dtype=str)
    con.tensorset("w", words)
    con.modelexecute("strings", "w", "same")
    np.testing.assert_array_equal(con.tensorget("same"), words)


def test_batched_clients_each_get_their_rows(server):
    con = client(server)
    con.modelstore("mlp", "ONNX", "CPU", model_bytes("mlp.onnx"), batch=16, minbatch=4, minbatchtimeout=200)
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal((1 + n % 3, 4)).astype(np.float32) for n in range(8)]
    errors = []

    def one(n):
        try:
            c = client(server)
            c.tensorset(f"x{n}", inputs[n])
            c.modelexecute("mlp", f"x{n}", f"y{n}")
        except Exception as e:  # reported below, with the client's number
            errors.append((n, e))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n, x in enumerate(inputs):
        (want,) = reference("mlp.onnx", {"x": x})
        np.testing.assert_allclose(con.tensorget(f"y{n}"), want, rtol=1e-6, atol=1e-7)
    assert con.infoget("mlp")["samples"] == sum(len(x) for x in inputs)


def test_error_texts_clients_see(server):
    con = client(server)
    # A blob that is no model gets the backend's text (RedisAI's TFLite one), and nothing is stored.
    with pytest.raises(Exception, match="Failed to load model from buffer"):
        con.modelstore("m", "TFLITE", "CPU", b"x")
    assert con.exists("m") == 0
    with pytest.raises(Exception, match="model key is empty"):
        con.modelexecute("nothing", ["x"], ["y"])
    con.modelstore("mlp", "ONNX", "CPU", model_bytes("mlp.onnx"))
    with pytest.raises(Exception, match="tensor key is empty"):
        con.modelexecute("mlp", ["absent"], ["y"])
    con.tensorset("x", np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(Exception, match="Number of keys given as OUTPUTS here does not match model definition"):
        con.modelexecute("mlp", ["x"], ["y", "z"])
    assert con.exists("y") == 0


def test_dag_pipeline_in_one_call(server):
    """set input -> model A -> model B -> get output, in one AI.DAGEXECUTE through redisai-py:
    the numbers are ONNX Runtime's own, and only the PERSIST key reaches the keyspace."""
    con = client(server)
    con.modelstore("mlp", "ONNX", "CPU", model_bytes("mlp.onnx"))
    con.modelstore("double", "ONNX", "CPU", model_bytes("double.onnx"))
    before = set(con.keys())
    x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    dag = con.dag(persist="result")
    dag.tensorset("x", x)
    dag.modelexecute("mlp", inputs="x", outputs="probs")
    dag.modelexecute("double", inputs="probs", outputs="result")
    dag.tensorget("result")
    ok_set, ok_a, ok_b, got = dag.execute()
    assert (ok_set, ok_a, ok_b) == ("OK", "OK", "OK")
    (probs,) = reference("mlp.onnx", {"x": x})
    (want,) = reference("double.onnx", {"x": probs})
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(con.tensorget("result"), want)
    assert set(con.keys()) - before == {b"result"}

    # A read-only DAG on a LOADed key writes nothing.
    con.tensorset("input", x)
    ro = con.dag(load="input", readonly=True)
    ro.modelexecute("mlp", inputs="input", outputs="p")
    ro.tensorget("p")
    _, p = ro.execute()
    np.testing.assert_array_equal(p, probs)
    assert set(con.keys()) - before == {b"result", b"input"}


@pytest.mark.parametrize("name", ["external_initializer", "external_constant", "external_branch"])
def test_models_with_external_data_are_refused_unread(server, name):
    """A tensor whose data lives in a file is refused with RedisAI's text before ONNX Runtime
    sees the model: ONNX Runtime 1.31 would otherwise read `external.bin` from the server's
    directory for a tensor inside an If branch (the file is put there to prove it is not read)."""
    (Path(server.dir) / "external.bin").write_bytes(model_bytes("external.bin"))
    con = client(server)
    with pytest.raises(Exception) as refused:
        con.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", model_bytes(name + ".onnx"))
    assert str(refused.value) == "Initializer tensors with external data is not allowed."
    assert con.exists("m") == 0
