"""TorchScript models through redisai-py 1.3.0's modelstore / modelexecute (TORCH), unchanged.

The models are TorchScript archives written by libtorch 2.13's serializer (the one
`torch.jit.save` calls), made by tests/models/make_torch_models.py with seeded weights; the
expected outputs beside each were computed independently with numpy. Needs the TORCH plugin
built against libtorch (`make deps-torch`): without it these tests fail saying so.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import redis
import redisai

from redis_server import ROOT

TORCH_MODELS = Path(os.environ.get("REDISAI_TEST_MODELS", ROOT / "target/test-models")) / "torch"
DTYPES = {"FLOAT": np.float32, "DOUBLE": np.float64, "INT64": np.int64, "INT32": np.int32}


def fixture(name):
    spec = TORCH_MODELS / f"{name}.json"
    if not spec.exists():
        pytest.fail(f"{spec} is missing: run `make models` (needs the TORCH plugin, "
                    "`make deps-torch`)")
    meta = json.loads(spec.read_text())
    blob = (TORCH_MODELS / meta["model"]).read_bytes()
    arrays = lambda items: [np.array(t["values"], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
                            for t in items]
    return blob, arrays(meta["inputs"]), arrays(meta["outputs"])


@pytest.fixture
def con(server):
    return redisai.Client(host="127.0.0.1", port=server.port)


@pytest.mark.parametrize("name", ["mlp", "addmul", "scalar", "int64"])
def test_model_output_matches_numpy(con, name):
    blob, inputs, outputs = fixture(name)
    assert con.modelstore("m", "TORCH", "CPU", blob, tag="t1") == "OK"
    ins = [f"in{i}" for i in range(len(inputs))]
    outs = [f"out{i}" for i in range(len(outputs))]
    for k, v in zip(ins, inputs):
        con.tensorset(k, v)
    assert con.modelexecute("m", inputs=ins, outputs=outs) == "OK"
    for k, want in zip(outs, outputs):
        got = con.tensorget(k)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    meta = con.modelget("m", meta_only=True)
    assert meta["backend"] == "TORCH" and meta["tag"] == "t1"
    assert len(meta["inputs"]) == len(inputs) and len(meta["outputs"]) == len(outputs)
    assert con.modelget("m")["blob"] == blob
    info = con.infoget("m")
    assert info["backend"] == "TORCH" and info["calls"] == 1 and info["errors"] == 0


def test_batching_and_dag(con):
    blob, (x,), (y,) = fixture("mlp")
    assert con.modelstore("mlp", "TORCH", "CPU", blob, batch=8, minbatch=2, minbatchtimeout=50) \
        == "OK"
    con.tensorset("x", x)
    out = con.execute_command(
        "AI.DAGEXECUTE", "LOAD", 1, "x", "|>", "AI.MODELEXECUTE", "mlp", "INPUTS", 1, "x",
        "OUTPUTS", 1, "y", "|>", "AI.TENSORGET", "y", "BLOB")
    np.testing.assert_allclose(np.frombuffer(out[1], dtype=np.float32).reshape(y.shape), y,
                               rtol=1e-5, atol=1e-6)


def test_errors(con):
    blob, _, _ = fixture("mlp")
    with pytest.raises(redis.ResponseError) as e:
        con.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", b"not a model")
    assert "PytorchStreamReader failed" in str(e.value)
    with pytest.raises(redis.ResponseError) as e:
        con.execute_command("AI.MODELSTORE", "m", "TORCH", "GPU:0", "BLOB", blob)
    assert str(e.value) == "GPU requested but Torch couldn't find CUDA"
    assert not con.exists("m")
    con.modelstore("m", "TORCH", "CPU", blob)
    con.tensorset("s", np.zeros((2, 4), dtype=np.uint16))
    with pytest.raises(redis.ResponseError) as e:
        con.modelexecute("m", inputs=["s"], outputs=["o"])
    assert "does not support UINT16" in str(e.value)
    con.tensorset("w", np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(redis.ResponseError):
        con.modelexecute("m", inputs=["w"], outputs=["o"])
    assert not con.exists("o")
    assert con.infoget("m")["errors"] == 2
