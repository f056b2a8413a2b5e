"""Writes the TFLITE test models and what LiteRT's own interpreter answers for them.

Run once, by hand, with TensorFlow and ai-edge-litert (`make tflite-fixtures` makes a venv of its
own under ~/.cache/redisai for it); its outputs are committed, so `make test` needs neither:

    tests/models/tflite/<name>.tflite   the models (a few KB each)
    tests/models/tflite/expected.json   per model: inputs in the interpreter's order (name, dtype,
                                        shape, values) and the outputs the Python interpreter of
                                        ai-edge-litert (the oracle) gave for them

Models:
  mnist_quant    a digit classifier trained a few seconds on scikit-learn's bundled 8x8 digits
                 (scaled to 28x28), fully quantized to integers: uint8 [N,28,28,1] in, uint8 10
                 scores out, like redisai-py's mnist_model_quant.tflite but with integer I/O
  mnist_dynamic  the same network with RedisAI's test model's interface: float [1,1,28,28] in,
                 dynamic-range quantized weights (hybrid kernels), outputs the class (INT64) and
                 its probability (FLOAT)
  mlp            float 4 -> 16 -> ReLU -> 3 -> softmax, any batch size
  addmul         two float inputs [N,2], outputs a+b and a*b
  dtypes         one input per RedisAI dtype the backend takes (FLOAT, DOUBLE, INT8/16/32/64,
                 UINT8, BOOL), each [N,3]; each output is its input reversed along dim 1 (DOUBLE
                 and INT8: reshaped to [N,1,3]), of the same dtype
  slow           n int64[2] -> y float: fill(n, 0.001) multiplied by itself 48 times, summed (as
                 slow.onnx); its run time grows with n, for the MODEL_EXECUTION_TIMEOUT tests.
                 LiteRT checks for cancellation between the nodes of its execution plan, and XNNPACK
                 would take the whole chain as one node: a REVERSE_V2 (which XNNPACK does not run)
                 after each multiplication keeps them apart. Not in expected.json.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "tflite")
DTYPE_NAMES = {np.float32: "FLOAT", np.float64: "DOUBLE", np.int8: "INT8", np.int16: "INT16",
               np.int32: "INT32", np.int64: "INT64", np.uint8: "UINT8", np.bool_: "BOOL"}


def dtype_name(d):
    return DTYPE_NAMES[np.dtype(d).type]


def digits_28():
    """scikit-learn's 8x8 digits (bundled, nothing downloaded) scaled to 28x28, in [0, 1]."""
    from sklearn.datasets import load_digits
    d = load_digits()
    images = d.images.astype(np.float32) / 16.0
    big = tf.image.resize(images[..., None], (28, 28), method="bilinear").numpy()
    return np.clip(big, 0.0, 1.0), d.target.astype(np.int64)


def classifier():
    return tf.keras.Sequential([
        tf.keras.layers.Input((28, 28, 1)),
        tf.keras.layers.Conv2D(4, 3, activation="relu"),
        tf.keras.layers.MaxPooling2D(4),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10),
        tf.keras.layers.Softmax(),
    ])


def convert(fn, signature, **opts):
    conv = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf.function(fn, input_signature=signature).get_concrete_function()])
    for k, v in opts.items():
        setattr(conv, k, v)
    return conv.convert()


def oracle(blob, inputs):
    """The ai-edge-litert interpreter's outputs for `inputs` (in its input order)."""
    it = Interpreter(model_content=blob)
    details = it.get_input_details()
    for d, x in zip(details, inputs):
        it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    for d, x in zip(details, inputs):
        assert np.dtype(d["dtype"]) == x.dtype, (d, x.dtype)
        it.set_tensor(d["index"], x)
    it.invoke()
    return ([d["name"] for d in details],
            [it.get_tensor(d["index"]).copy() for d in it.get_output_details()],
            [d["name"] for d in it.get_output_details()])


def tensor_json(x):
    return {"dtype": dtype_name(x.dtype), "shape": list(x.shape),
            "values": x.astype(np.int64 if x.dtype == np.bool_ else x.dtype).ravel().tolist()}


def main():
    tf.keras.utils.set_random_seed(7)
    OUT.mkdir(parents=True, exist_ok=True)
    expected = {}

    def save(name, blob, cases):
        (OUT / f"{name}.tflite").write_bytes(blob)
        expected[name] = {"model": f"{name}.tflite", "cases": []}
        for inputs in cases:
            in_names, outs, out_names = oracle(blob, inputs)
            expected[name]["inputs"] = in_names
            expected[name]["outputs"] = out_names
            expected[name]["cases"].append({"inputs": [tensor_json(x) for x in inputs],
                                            "outputs": [tensor_json(y) for y in outs]})
        print(f"{name}: {len(blob)} bytes, inputs {in_names}, outputs {out_names}")

    images, labels = digits_28()
    net = classifier()
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    net.fit(images, labels, epochs=4, batch_size=32, verbose=0)
    print("digits accuracy (train):", net.evaluate(images, labels, verbose=0)[1])
    # One picture of each of a 1, a 7 and a 3 that the float network gets right.
    picks = [next(i for i in range(len(labels))
                  if labels[i] == d and np.argmax(net(images[i:i + 1])) == d) for d in (1, 7, 3)]

    def representative():
        for i in range(0, 300, 3):
            yield [images[i:i + 1]]

    quant = convert(lambda x: net(x), [tf.TensorSpec([None, 28, 28, 1], tf.float32)],
                    optimizations=[tf.lite.Optimize.DEFAULT],
                    representative_dataset=representative,
                    target_spec=tf.lite.TargetSpec(
                        supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]),
                    inference_input_type=tf.uint8, inference_output_type=tf.uint8)
    # The uint8 input's quantization is scale 1/255, zero point 0 (see the oracle's details):
    # pixels in [0, 1] become 0..255.
    u8 = [np.round(images[i:i + 1] * 255).astype(np.uint8) for i in picks]
    save("mnist_quant", quant, [[x] for x in u8] + [[np.concatenate(u8)]])

    def redisai_shaped(x):
        p = net(tf.reshape(x, [-1, 28, 28, 1]))
        return tf.argmax(p, axis=1), tf.reduce_max(p, axis=1)

    dynamic = convert(redisai_shaped, [tf.TensorSpec([1, 1, 28, 28], tf.float32)],
                      optimizations=[tf.lite.Optimize.DEFAULT])
    save("mnist_dynamic", dynamic, [[images[i].reshape(1, 1, 28, 28)] for i in picks])

    mlp = tf.keras.Sequential([tf.keras.layers.Input((4,)), tf.keras.layers.Dense(16, activation="relu"),
                               tf.keras.layers.Dense(3), tf.keras.layers.Softmax()])
    rng = np.random.default_rng(3)
    save("mlp", convert(lambda x: mlp(x), [tf.TensorSpec([None, 4], tf.float32)]),
         [[rng.normal(size=(n, 4)).astype(np.float32)] for n in (1, 3)])

    save("addmul", convert(lambda a, b: (a + b, a * b),
                           [tf.TensorSpec([None, 2], tf.float32, name="a"),
                            tf.TensorSpec([None, 2], tf.float32, name="b")]),
         [[rng.normal(size=(2, 2)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32)]])

    kinds = [tf.float32, tf.float64, tf.int8, tf.int16, tf.int32, tf.int64, tf.uint8, tf.bool]

    def per_dtype(*xs):
        # REVERSE_V2 keeps the dtype; TFLite has no float64 or int8 kernel of it, so those two
        # go through RESHAPE (a copy), which takes any dtype.
        return tuple(tf.reshape(x, [-1, 1, 3]) if x.dtype in (tf.float64, tf.int8)
                     else tf.reverse(x, axis=[1]) for x in xs)

    sig = [tf.TensorSpec([None, 3], k, name=f"x{i}_{k.name}") for i, k in enumerate(kinds)]
    values = [np.array([[1.5, -2.25, 3.0], [4.0, 5.5, -6.0]], np.float32),
              np.array([[1e300, -2.5, 1 / 3], [0.0, -0.0, 7.0]], np.float64),
              np.array([[-128, 0, 127], [1, -1, 5]], np.int8),
              np.array([[-32768, 0, 32767], [2, -2, 9]], np.int16),
              np.array([[-2**31, 0, 2**31 - 1], [3, -3, 11]], np.int32),
              np.array([[-2**63, 0, 2**63 - 1], [4, -4, 13]], np.int64),
              np.array([[0, 128, 255], [5, 6, 7]], np.uint8),
              np.array([[True, False, False], [False, True, True]], np.bool_)]
    save("dtypes", convert(per_dtype, sig), [values])

    def slow(n):
        a0 = tf.fill(n, tf.constant(0.001, tf.float32))
        a = a0
        for _ in range(48):
            a = tf.reverse(tf.matmul(a, a0), axis=[0])
        return tf.reduce_sum(a)

    (OUT / "slow.tflite").write_bytes(convert(slow, [tf.TensorSpec([2], tf.int64, name="n")]))
    print("slow:", oracle((OUT / "slow.tflite").read_bytes(), [np.array([8, 8], np.int64)])[1])

    (OUT / "expected.json").write_text(json.dumps(expected, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
