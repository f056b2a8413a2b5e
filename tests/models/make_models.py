"""Builds the tiny ONNX models the tests use, with the `onnx` package (no download).

    python tests/models/make_models.py OUT_DIR

Each model is small, deterministic (fixed seed) and exercises one thing:

  mlp.onnx        x float[N,4] -> probs float[N,3]: MatMul, Add, Relu, MatMul, Add, Softmax.
                  The batch dimension is dynamic, so runs of it can be batched.
  addmul.onnx     a, b float[2,2] -> sum = a + b, product = a @ b (two in, two out).
  intbool.onnx    i int64[N], f bool[N], s int32[N] -> twice = 2*i, flipped = not f,
                  halved = s / 2 (integer division), all with a dynamic dimension.
  strings.onnx    s string[N] -> same string[N] (Identity).
  double.onnx     x float[N,M] -> y = 2*x (both dimensions dynamic; batching tests check
                  each client gets exactly its own rows back).
  shrink.onnx     x float[N,2] -> y = sum over the batch, float[1,2]: its batch dimension does
                  not follow the input, so batched runs of it must fail.
  slow.onnx       n int64[2] -> y float: a = ConstantOfShape(n, 0.001), multiplied by itself
                  through a chain of 48 MatMul nodes, summed. The caller picks how long it
                  runs (n = [8, 8] is instant, [1000, 1000] takes seconds); being many nodes,
                  a run can be stopped between them.
  uint.onnx       x float[1] -> y uint32: an output type RedisAI tensors cannot hold.
  wide.onnx       x float[N,256] -> y float[N,8] through two 1024-wide ReLU layers (5 MB of
                  weights): for `make bench`, a model whose run costs more than the command
                  around it, where batching shows what it buys.
  external_*.onnx y = x + w with w's data in the file `external.bin` (written beside them):
                  as a graph initializer (initializer), as a Constant node's value (constant),
                  inside an If node's branch (branch). The server must refuse each unread.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 13)]


def save(model, out_dir, name):
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out_dir, name))


def mlp():
    rng = np.random.default_rng(7)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 16)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 3)).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b2")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
        helper.make_node("Add", ["h3", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    g = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3])],
        [w1, b1, w2, b2],
    )
    return helper.make_model(g, opset_imports=OPSET)


def addmul():
    g = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("MatMul", ["a", "b"], ["product"])],
        "addmul",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 2]) for n in ("a", "b")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 2]) for n in ("sum", "product")],
    )
    return helper.make_model(g, opset_imports=OPSET)


def intbool():
    two64 = numpy_helper.from_array(np.array(2, dtype=np.int64), "two64")
    two32 = numpy_helper.from_array(np.array(2, dtype=np.int32), "two32")
    g = helper.make_graph(
        [
            helper.make_node("Mul", ["i", "two64"], ["twice"]),
            helper.make_node("Not", ["f"], ["flipped"]),
            helper.make_node("Div", ["s", "two32"], ["halved"]),
        ],
        "intbool",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("f", TensorProto.BOOL, ["N"]),
            helper.make_tensor_value_info("s", TensorProto.INT32, ["N"]),
        ],
        [
            helper.make_tensor_value_info("twice", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("flipped", TensorProto.BOOL, ["N"]),
            helper.make_tensor_value_info("halved", TensorProto.INT32, ["N"]),
        ],
        [two64, two32],
    )
    return helper.make_model(g, opset_imports=OPSET)


def strings():
    g = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["same"])],
        "strings",
        [helper.make_tensor_value_info("s", TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info("same", TensorProto.STRING, ["N"])],
    )
    return helper.make_model(g, opset_imports=OPSET)


def double():
    two = numpy_helper.from_array(np.array(2, dtype=np.float32), "two")
    g = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["y"])],
        "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "M"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "M"])],
        [two],
    )
    return helper.make_model(g, opset_imports=OPSET)


def shrink():
    g = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=1, axes=[0])],
        "shrink",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 12)])


def slow(steps=48):
    milli = helper.make_tensor("milli", TensorProto.FLOAT, [1], [0.001])
    nodes = [helper.make_node("ConstantOfShape", ["n"], ["a0"], value=milli)]
    for k in range(steps):
        nodes.append(helper.make_node("MatMul", [f"a{k}", "a0"], [f"a{k + 1}"]))
    nodes.append(helper.make_node("ReduceSum", [f"a{steps}"], ["y"], keepdims=0))
    g = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("n", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 12)])


def uint():
    g = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.UINT32)],
        "uint",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.UINT32, [1])],
    )
    return helper.make_model(g, opset_imports=OPSET)


def wide(inputs=256, hidden=1024, outputs=8):
    rng = np.random.default_rng(11)
    shapes = [(inputs, hidden), (hidden, hidden), (hidden, outputs)]
    weights = [
        numpy_helper.from_array((rng.standard_normal(s) / np.sqrt(s[0])).astype(np.float32), f"w{k}")
        for k, s in enumerate(shapes)
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["a0"]),
        helper.make_node("Relu", ["a0"], ["r0"]),
        helper.make_node("MatMul", ["r0", "w1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["y"]),
    ]
    g = helper.make_graph(
        nodes, "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", outputs])],
        weights,
    )
    return helper.make_model(g, opset_imports=OPSET)


def external_tensor():
    w = numpy_helper.from_array(np.ones(2, dtype=np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "external.bin"), ("offset", "0"), ("length", "8")):
        entry = w.external_data.add()
        entry.key, entry.value = k, v
    return w


def external_model(name, nodes, initializers=()):
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        list(initializers),
    )
    return helper.make_model(g, opset_imports=OPSET)


def external_initializer():
    return external_model("ext", [helper.make_node("Add", ["x", "w"], ["y"])], [external_tensor()])


def external_constant():
    return external_model("ext", [
        helper.make_node("Constant", [], ["w"], value=external_tensor()),
        helper.make_node("Add", ["x", "w"], ["y"]),
    ])


def external_branch():
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]
    then = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "then", [], out, [external_tensor()])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "else", [], out)
    return external_model("ext", [
        helper.make_node("Constant", [], ["c"], value=helper.make_tensor("c", TensorProto.BOOL, [], [True])),
        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other),
    ])


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for make in (mlp, addmul, intbool, strings, double, shrink, slow, uint, wide):
        save(make(), out_dir, make.__name__ + ".onnx")
    for make in (external_initializer, external_constant, external_branch):
        model = make()
        model.ir_version = 8
        # Written without onnx.save, which would look for (or write) the external file itself.
        with open(os.path.join(out_dir, make.__name__ + ".onnx"), "wb") as f:
            f.write(model.SerializeToString())
    with open(os.path.join(out_dir, "external.bin"), "wb") as f:
        f.write(np.full(2, 7, dtype=np.float32).tobytes())
    print(f"models written to {out_dir}")


if __name__ == "__main__":
    main()
