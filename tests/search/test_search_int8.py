"""INT8 and UINT8 vectors (Redis 8's integer vector types): blobs of one byte per element,
distances computed on the integer values, FLAT and HNSW, checked against numpy."""

import numpy as np
import pytest
import redis


@pytest.mark.parametrize("dtype,np_type", [("INT8", np.int8), ("UINT8", np.uint8)])
@pytest.mark.parametrize("algo", ["FLAT", "HNSW"])
@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_integer_vectors(server, dtype, np_type, algo, metric):
    r = redis.Redis(port=server.port)
    r.execute_command("FT.CREATE", "iv", "PREFIX", 1, "v:", "SCHEMA", "v", "VECTOR", algo, 6,
                      "TYPE", dtype, "DIM", 8, "DISTANCE_METRIC", metric)
    rng = np.random.default_rng(3)
    lo, hi = (-128, 128) if np_type == np.int8 else (0, 256)
    data = rng.integers(lo, hi, size=(60, 8)).astype(np_type)
    data[data == 0] = 1
    for i, v in enumerate(data):
        r.hset(f"v:{i}", "v", v.tobytes())
    q = rng.integers(lo, hi, size=8).astype(np_type)
    q[q == 0] = 1
    reply = r.execute_command("FT.SEARCH", "iv", "*=>[KNN 5 @v $q EF_RUNTIME 100]", "PARAMS", 2,
                              "q", q.tobytes(), "RETURN", 1, "__v_score", "DIALECT", 2)
    x, y = data.astype(np.float64), q.astype(np.float64)
    if metric == "L2":
        d = ((x - y) ** 2).sum(axis=1)
    elif metric == "IP":
        d = 1 - x @ y
    else:
        d = 1 - (x @ y) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y))
    want = np.sort(d)[:5]
    got = [float(reply[i + 1][1]) for i in range(1, len(reply), 2)]
    assert reply[0] == 5
    assert np.allclose(got, want, rtol=1e-4, atol=1e-3), (got, want)
    # A blob of the wrong size is an indexing failure, not a crash.
    r.hset("v:bad", "v", b"\x01" * 9)
    info = r.execute_command("FT.INFO", "iv")
    fields = dict(zip(info[::2], info[1::2]))
    assert fields[b"hash_indexing_failures"] == 1
    assert fields[b"num_docs"] == 60
