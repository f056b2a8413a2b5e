"""Writes the TF backend's test fixtures into tests/models/tf/: small frozen GraphDefs (`.pb`)
made with the tensorflow-cpu 2.21 wheel's own Python, and beside each a `.json` with its
input/output names, the inputs fed, and the outputs TensorFlow itself computed for them (the
tests compare the plugin's outputs with these).

Run by `make tf-fixtures` (a venv of its own under ~/.cache/redisai); the outputs are
committed, so `make test` needs no TensorFlow Python. Weights are seeded: a rerun writes the
same files.

    python make_tf_models.py OUT_DIR
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()

DTYPE_NAMES = {
    np.float32: "FLOAT", np.float64: "DOUBLE", np.int8: "INT8", np.int16: "INT16",
    np.int32: "INT32", np.int64: "INT64", np.uint8: "UINT8", np.bool_: "BOOL", np.object_: "STRING",
}


def as_json(name, a):
    dtype = DTYPE_NAMES[a.dtype.type]
    if dtype == "STRING":
        values = [v.decode() if isinstance(v, bytes) else v for v in a.reshape(-1).tolist()]
    else:
        values = a.reshape(-1).tolist()
    return {"name": name, "dtype": dtype, "shape": list(a.shape), "values": values}


def write(out_dir, name, graph, feeds, outputs):
    """Saves `graph`, runs it in a fresh session on `feeds` ({input name: array}) and records
    `outputs` (names as the tests give them to AI.MODELSTORE)."""
    graph_def = graph.as_graph_def()
    # deterministic: attribute maps in key order, so that a rerun writes the same bytes.
    blob = graph_def.SerializeToString(deterministic=True)
    with open(os.path.join(out_dir, name + ".pb"), "wb") as f:
        f.write(blob)
    # Run the bytes as written, imported into a graph of their own: what the plugin gets.
    g = tf.Graph()
    with g.as_default():
        tf1.import_graph_def(tf1.GraphDef.FromString(blob), name="")
    tensor = lambda n: g.get_tensor_by_name(n if ":" in n else n + ":0")
    with tf1.Session(graph=g) as s:
        results = s.run([tensor(o) for o in outputs], {tensor(k): v for k, v in feeds.items()})
    meta = {
        "model": name + ".pb",
        "inputs": [as_json(k, np.asarray(v)) for k, v in feeds.items()],
        "outputs": [as_json(o, np.asarray(r)) for o, r in zip(outputs, results)],
    }
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def mul(out_dir):
    """redisai-py's own example: mul = a * b."""
    g = tf.Graph()
    with g.as_default():
        a = tf1.placeholder(tf.float32, name="a")
        b = tf1.placeholder(tf.float32, name="b")
        tf.multiply(a, b, name="mul")
    write(out_dir, "graph", g, {"a": np.array([2, 3], np.float32), "b": np.array([2, 3], np.float32)},
          ["mul"])


def mlp(out_dir):
    """x[N,4] -> MatMul+bias, ReLU -> MatMul+bias -> y[N,3]; `hidden` is the ReLU."""
    rng = np.random.default_rng(11)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        w1 = tf.constant(rng.standard_normal((4, 8)).astype(np.float32), name="w1")
        b1 = tf.constant(rng.standard_normal(8).astype(np.float32), name="b1")
        w2 = tf.constant(rng.standard_normal((8, 3)).astype(np.float32), name="w2")
        b2 = tf.constant(rng.standard_normal(3).astype(np.float32), name="b2")
        h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w1), b1), name="hidden")
        tf.nn.bias_add(tf.matmul(h, w2), b2, name="y")
    x = rng.standard_normal((5, 4)).astype(np.float32)
    write(out_dir, "mlp", g, {"x": x}, ["y", "hidden:0"])


def cnn(out_dir):
    """x[N,8,8,1] -> Conv2D 3x3x4 + bias, ReLU -> MaxPool 2x2 -> Dense 10 -> softmax."""
    rng = np.random.default_rng(12)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 8, 8, 1], name="image")
        k = tf.constant(rng.standard_normal((3, 3, 1, 4)).astype(np.float32))
        kb = tf.constant(rng.standard_normal(4).astype(np.float32))
        c = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, k, strides=1, padding="SAME"), kb))
        p = tf.nn.max_pool2d(c, ksize=2, strides=2, padding="VALID")
        flat = tf.reshape(p, [-1, 4 * 4 * 4])
        w = tf.constant((rng.standard_normal((64, 10)) * 0.2).astype(np.float32))
        tf.nn.softmax(tf.matmul(flat, w), name="probs")
    x = rng.random((2, 8, 8, 1)).astype(np.float32)
    write(out_dir, "cnn", g, {"image": x}, ["probs"])


def strings(out_dir):
    """STRING in, the same STRING out, and the length of each element (INT32)."""
    g = tf.Graph()
    with g.as_default():
        s = tf1.placeholder(tf.string, [None], name="s")
        tf.identity(s, name="same")
        tf.strings.length(s, name="lengths")
    write(out_dir, "strings", g, {"s": np.array([b"hello", b"", b"a longer string than 22 bytes", b"\xc3\xa9t\xc3\xa9"], object)},
          ["same", "lengths"])


def dtypes(out_dir):
    """One placeholder per RedisAI dtype TF takes, each through an op of its type."""
    g = tf.Graph()
    feeds = {}
    outs = []
    with g.as_default():
        for dt, np_dt, vals in [
            (tf.float64, np.float64, [1.5, -2.25]),
            (tf.int8, np.int8, [-128, 5]),
            (tf.int16, np.int16, [-300, 7]),
            (tf.int32, np.int32, [-70000, 9]),
            (tf.int64, np.int64, [-(2 ** 40), 11]),
            (tf.uint8, np.uint8, [0, 254]),
        ]:
            name = "in_" + dt.name
            p = tf1.placeholder(dt, [None], name=name)
            tf.add(p, tf.constant(1, dt), name="out_" + dt.name)
            feeds[name] = np.array(vals, np_dt)
            outs.append("out_" + dt.name)
        p = tf1.placeholder(tf.bool, [None], name="in_bool")
        tf.logical_not(p, name="out_bool")
        feeds["in_bool"] = np.array([True, False])
        outs.append("out_bool")
    write(out_dir, "dtypes", g, feeds, outs)


def slow(out_dir, steps=48):
    """n int64[2] -> y float: a = fill(n, 0.001), multiplied by itself `steps` times, summed (as
    slow.onnx): its run time grows with n, for the MODEL_EXECUTION_TIMEOUT tests."""
    g = tf.Graph()
    with g.as_default():
        n = tf1.placeholder(tf.int64, [2], name="n")
        a0 = tf.fill(n, tf.constant(0.001, tf.float32))
        a = a0
        for _ in range(steps):
            a = tf.matmul(a, a0)
        tf.reduce_sum(a, name="y")
    write(out_dir, "slow", g, {"n": np.array([8, 8], np.int64)}, ["y"])


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for make in (mul, mlp, cnn, strings, dtypes, slow):
        make(out_dir)
    print(f"TF {tf.__version__}: fixtures written to {out_dir}")


if __name__ == "__main__":
    main()
