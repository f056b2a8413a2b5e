"""Builds the TorchScript models and scripts the TORCH backend tests use (no download, no
`import torch`: PyPI's torch needs ~3 GB of CUDA libraries to import).

    python tests/models/make_torch_models.py OUT_DIR

The models are made by libtorch itself, through the TORCH plugin
(`target/release/libredisai_torch.so`, or $REDISAI_TORCH_PLUGIN) and its exported
`redisai_torch_save_module`: a torch::jit::Module gets float32 parameters and methods defined
from TorchScript source, and is saved with Module::save, the serializer `torch.jit.save` uses.
So each .pt is a real PyTorch 2.13 TorchScript archive. Weights are seeded (deterministic).

Next to each NAME.pt, NAME.json holds fixed inputs and the outputs computed independently
here with numpy:

    {"model": "NAME.pt", "inputs": [{"name", "dtype", "shape", "values"}...],
     "outputs": [{"dtype", "shape", "values"}...]}

(dtype as AI.TENSORSET spells it; values flattened, row-major.)

  mlp.pt       x float[N,4] -> float[N,3]: relu(x @ w1 + b1) @ w2 + b2 (4 -> 8 -> 3).
  addmul.pt    a, b float[2,2] -> (a + b, a @ b): two inputs, a tuple of two outputs.
  scalar.pt    x float[3] -> sum(x * w): a 0-dim output.
  int64.pt     x int64[N] -> x * 3 + 1.

Scripts (TorchScript source, for AI.SCRIPTSTORE / AI.SCRIPTSET):

  script.py         entry points bar(a + b), bar_variadic(tensors[0] + sum of the rest),
                    index_error (tensors[10]), int_result (returns 1), args_keys (uses both).
  legacy_script.py  AI.SCRIPTSET-style functions: bar(a, b), bar_variadic(a, rest: List[Tensor]),
                    with_int(a, n: int) (not callable: an int parameter).
  redis_script.py   entry points using redis.execute / redis.asList / redisAI.model_execute:
                    set_get, list_len, redis_error, model_execute.

Exits non-zero, saying why, when the plugin or libtorch cannot be found.
"""

import ctypes
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PLUGIN = os.path.join(HERE, "..", "..", "target", "release", "libredisai_torch.so")


def fail(message):
    sys.stderr.write("make_torch_models.py: %s\n" % message)
    sys.exit(2)


def open_plugin():
    path = os.path.abspath(os.environ.get("REDISAI_TORCH_PLUGIN") or DEFAULT_PLUGIN)
    if not os.path.exists(path):
        fail(
            "%s not found: build it first (make deps-torch && cargo build --release -p "
            "redisai-torch), or set REDISAI_TORCH_PLUGIN" % path
        )
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        fail("cannot load %s (is libtorch staged? run `make deps-torch`): %s" % (path, e))
    try:
        f = lib.redisai_torch_save_module
    except AttributeError:
        fail("%s has no redisai_torch_save_module: rebuild it" % path)
    f.restype = ctypes.c_int
    f.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_float)),
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)),
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    return f


def save_module(save, path, source, params):
    """params: list of (name, float32 ndarray)."""
    arrays = [np.ascontiguousarray(a, dtype=np.float32) for _, a in params]
    shapes = [np.array(a.shape, dtype=np.int64) for a in arrays]
    n = len(params)
    names = (ctypes.c_char_p * max(n, 1))(*[name.encode() for name, _ in params])
    data = (ctypes.POINTER(ctypes.c_float) * max(n, 1))(
        *[a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) for a in arrays]
    )
    ndims = (ctypes.c_int64 * max(n, 1))(*[a.ndim for a in arrays])
    shape_ptrs = (ctypes.POINTER(ctypes.c_int64) * max(n, 1))(
        *[s.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)) for s in shapes]
    )
    err = ctypes.create_string_buffer(8192)
    status = save(
        source.encode(), n, names, data, ndims, shape_ptrs, path.encode(), err, len(err)
    )
    if status != 0:
        fail("cannot make %s: %s" % (os.path.basename(path), err.value.decode(errors="replace")))


DTYPES = {np.float32: "FLOAT", np.float64: "DOUBLE", np.int64: "INT64", np.int32: "INT32"}


def tensor_json(a, name=None):
    a = np.asarray(a)
    t = {
        "dtype": DTYPES[a.dtype.type],
        "shape": list(a.shape),
        "values": [v.item() for v in a.reshape(-1)],
    }
    if name is not None:
        t = dict(name=name, **t)
    return t


def write_expected(out_dir, name, inputs, outputs):
    doc = {
        "model": name + ".pt",
        "inputs": [tensor_json(a, n) for n, a in inputs],
        "outputs": [tensor_json(a) for a in outputs],
    }
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(doc, f)
        f.write("\n")


def mlp(save, out_dir):
    rng = np.random.default_rng(11)
    w1 = rng.standard_normal((4, 8)).astype(np.float32)
    b1 = rng.standard_normal(8).astype(np.float32)
    w2 = rng.standard_normal((8, 3)).astype(np.float32)
    b2 = rng.standard_normal(3).astype(np.float32)
    source = """
def forward(self, x):
    h = torch.relu(torch.matmul(x, self.w1) + self.b1)
    return torch.matmul(h, self.w2) + self.b2
"""
    save_module(save, os.path.join(out_dir, "mlp.pt"), source,
                [("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)])
    x = rng.standard_normal((2, 4)).astype(np.float32)
    h = np.maximum(x @ w1 + b1, 0)
    write_expected(out_dir, "mlp", [("x", x)], [(h @ w2 + b2).astype(np.float32)])


def addmul(save, out_dir):
    source = """
def forward(self, a, b):
    return a + b, torch.matmul(a, b)
"""
    save_module(save, os.path.join(out_dir, "addmul.pt"), source, [])
    a = np.array([[2, 3], [2, 3]], dtype=np.float32)
    b = np.array([[2, 3], [2, 3]], dtype=np.float32)
    write_expected(out_dir, "addmul", [("a", a), ("b", b)], [a + b, a @ b])


def scalar(save, out_dir):
    w = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    source = """
def forward(self, x):
    return torch.sum(x * self.w)
"""
    save_module(save, os.path.join(out_dir, "scalar.pt"), source, [("w", w)])
    x = np.array([0.5, -1.0, 4.0], dtype=np.float32)
    write_expected(out_dir, "scalar", [("x", x)], [np.array(np.sum(x * w), dtype=np.float32)])


def int64(save, out_dir):
    source = """
def forward(self, x):
    return x * 3 + 1
"""
    save_module(save, os.path.join(out_dir, "int64.pt"), source, [])
    x = np.array([-2, 0, 5, 1 << 40], dtype=np.int64)
    write_expected(out_dir, "int64", [("x", x)], [x * 3 + 1])


SCRIPT = """\
def bar(tensors: List[Tensor], keys: List[str], args: List[str]):
    a = tensors[0]
    b = tensors[1]
    return a + b


def bar_variadic(tensors: List[Tensor], keys: List[str], args: List[str]):
    a = tensors[0]
    for t in tensors[1:]:
        a = a + t
    return a


def index_error(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[10]


def int_result(tensors: List[Tensor], keys: List[str], args: List[str]):
    return 1


def args_keys(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * int(args[0]) + len(keys)
"""

LEGACY_SCRIPT = """\
def bar(a, b):
    return a + b


def bar_variadic(a, rest: List[Tensor]):
    return a + rest[0] + rest[1]


def with_int(a: Tensor, n: int):
    return a
"""

REDIS_SCRIPT = """\
def set_get(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], args[0])
    value = redis.execute("GET", [keys[0]])
    return torch.tensor(int(str(value)))


def list_len(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("RPUSH", keys[0], "1", "2", "3")
    items = redis.asList(redis.execute("LRANGE", keys[0], "0", "-1"))
    return torch.tensor([int(str(v)) for v in items])


def redis_error(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0])
    return tensors[0]


def model_execute(tensors: List[Tensor], keys: List[str], args: List[str]):
    return redisAI.model_execute(keys[0], tensors, int(args[0]))
"""


def main():
    if len(sys.argv) != 2:
        fail("usage: make_torch_models.py OUT_DIR")
    out_dir = sys.argv[1]
    save = open_plugin()
    os.makedirs(out_dir, exist_ok=True)
    for make in (mlp, addmul, scalar, int64):
        make(save, out_dir)
    for name, text in (("script.py", SCRIPT), ("legacy_script.py", LEGACY_SCRIPT),
                       ("redis_script.py", REDIS_SCRIPT)):
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
