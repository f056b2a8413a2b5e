"""redisai-py 1.3.0 and redis-py against the module, unchanged: tensors of every dtype
round-trip, and the error texts clients see are RedisAI's."""

import numpy as np
import pytest
import redis
import redisai

NUMERIC = [np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16]
DTYPE_NAMES = {np.float32: "FLOAT", np.float64: "DOUBLE"}


def client(server):
    return redisai.Client(host="127.0.0.1", port=server.port)


@pytest.mark.parametrize("dtype", NUMERIC)
def test_numpy_round_trip(server, dtype):
    con = client(server)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else np.finfo(dtype)
    a = np.array([[info.min, 0, 1], [2, 3, info.max]], dtype=dtype)
    assert con.tensorset("t", a) == "OK"
    b = con.tensorget("t")
    assert b.dtype == a.dtype
    assert b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    meta = con.tensorget("t", meta_only=True)
    name = DTYPE_NAMES.get(dtype, np.dtype(dtype).name.upper())
    assert meta == {"dtype": name, "shape": [2, 3]}
    values = con.tensorget("t", as_numpy=False)
    np.testing.assert_array_equal(np.array(values["values"], dtype=dtype).reshape(2, 3), a)


def test_bool_and_scalar_and_empty_shape(server):
    con = client(server)
    flags = np.array([True, False, True])
    con.tensorset("b", flags)
    np.testing.assert_array_equal(con.tensorget("b"), flags)
    assert con.tensorget("b").dtype == np.bool_
    scalar = np.array(3.5, dtype=np.float32)
    con.tensorset("s", scalar)
    got = con.tensorget("s")
    assert got.shape == ()
    assert got == scalar


def test_strings(server):
    con = client(server)
    words = np.array([["a", "bc"], ["", "עברית"]], dtype=str)
    con.tensorset("w", words)
    got = con.tensorget("w")
    np.testing.assert_array_equal(got, words)
    assert con.tensorget("w", as_numpy=False)["values"] == ["a", "bc", "", "עברית"]


def test_lists_with_a_dtype_use_values(server):
    con = client(server)
    con.tensorset("l", [1, -2, 3, -4], shape=(2, 2), dtype="int32")
    assert con.tensorget("l", as_numpy=False) == {"dtype": "INT32", "shape": [2, 2], "values": [1, -2, 3, -4]}
    con.tensorset("f", (1.5, 2.5), dtype="float")
    assert con.tensorget("f", as_numpy=False)["values"] == [1.5, 2.5]


def test_pipeline_and_transaction(server):
    con = client(server)
    for transaction in (True, False):
        pipe = con.pipeline(transaction=transaction)
        pipe.set("native", 1)
        pipe.tensorset("p", np.array([1, 2], dtype=np.int16))
        pipe.tensorget("p")
        res = pipe.execute()
        assert res[0] is True
        np.testing.assert_array_equal(res[2], np.array([1, 2], dtype=np.int16))


def test_big_tensor(server):
    con = client(server)
    a = np.arange(3 * 224 * 224, dtype=np.float32).reshape(1, 3, 224, 224)
    con.tensorset("img", a)
    np.testing.assert_array_equal(con.tensorget("img"), a)


def error_of(fn):
    with pytest.raises(redis.exceptions.ResponseError) as e:
        fn()
    return str(e.value)


def test_error_texts_seen_by_redis_py(server):
    r = redis.Redis(port=server.port)
    r.set("str", "x")
    # redis-py drops a leading "ERR " and keeps any other first word.
    cases = [
        (("AI.TENSORSET", "z", "INT128", 2), "invalid data type"),
        (("AI.TENSORSET", "z", "UINT32", 2), "invalid data type"),
        (("AI.TENSORSET", "z", "INT32", -1), "invalid or negative value found in tensor shape"),
        (("AI.TENSORSET", "z", "FLOAT", 2, "VALUES", 1), "wrong number of values was given in 'AI.TENSORSET' command"),
        (("AI.TENSORSET", "z", "FLOAT", 2, "VALUES", 1, "A"), "invalid value"),
        (("AI.TENSORSET", "z", "FLOAT", 2, "BLOB"), "a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"),
        (("AI.TENSORSET", "z", "FLOAT", 2, "BLOB", b"\x00"), "data length does not match tensor shape and type"),
        (("AI.TENSORSET", "z", "STRING", 2, "BLOB", b"one\x00"), "Number of string elements in data blob does not match tensor length"),
        (("AI.TENSORSET", "z", "BOOL", 2, "BLOB", b"\x02\x01"), "BOOL tensor elements must be 0 or 1"),
        (("AI.TENSORSET", "z", "STRING", 1, "VALUES", b"a\x00b"), "C-string value contains null character"),
        (("AI.TENSORSET", "z", "FLOAT"), "wrong number of arguments for 'AI.TENSORSET' command"),
        (("AI.TENSORSET", "str", "FLOAT", 1), "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (("AI.TENSORGET", "missing"), "tensor key is empty or in a different shard"),
        (("AI.TENSORGET", "str"), "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (("AI.TENSORGET",), "wrong number of arguments for 'AI.TENSORGET' command"),
        (("AI.CONFIG", "BACKENDSPATH"), "BACKENDSPATH: missing path argument"),
        (("AI.CONFIG", "MODEL_CHUNK_SIZE", 0), "MODEL_CHUNK_SIZE: invalid chunk size"),
        (("AI.CONFIG", "LOADBACKEND", "CAFFE", "x"), "unsupported backend"),
        (("AI.CONFIG", "NOPE"), "unsupported subcommand"),
    ]
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 1)
    cases += [
        (("AI.TENSORGET", "t", "unsupported_format"), "unsupported data format"),
        (("AI.TENSORGET", "t", "BLOB", "VALUES"), "both BLOB and VALUES specified"),
    ]
    for args, text in cases:
        assert error_of(lambda: r.execute_command(*args)) == text, args
    # The uint32 dtype that redisai-py maps is refused by the server, as upstream.
    con = client(server)
    assert error_of(lambda: con.tensorset("u", np.array([1], dtype=np.uint32))) == "invalid data type"
    assert sorted(r.keys()) == [b"str", b"t"]


def test_float_values_are_strings_in_resp2(server):
    # RESP3 doubles are covered by the Rust tests; redis-py 4 (required by redisai-py 1.3)
    # speaks RESP2, where Redis sends doubles as bulk strings.
    r = redis.Redis(port=server.port)
    r.execute_command("AI.TENSORSET", "f", "FLOAT", 2, "VALUES", 1.5, 2)
    assert r.execute_command("AI.TENSORGET", "f", "VALUES") == [b"1.5", b"2"]
