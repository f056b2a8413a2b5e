"""Text → sentence embedding in the server: what pooling costs as the built-in AI.POOL and as a
TorchScript script, and the one-call server path against the examples' client-side path.

    REDISAI_MODULE=target/release/libredisai.so .venv/bin/python bench/text_pool.py [--n 200]

Needs all-MiniLM-L6-v2 (`make deps-embed`) and, for the script row, the TORCH plugin. Prints
median and p99 latency per call, one client, batches of 1 and 16 texts.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/python"))
from redis_server import RedisServer  # noqa: E402
from test_text import (MODEL_ONNX, TOKENIZER_JSON, batch_longest_json, embed_ops,  # noqa: E402
                       store_pipeline, strings)

SCRIPT = """
def pool(tensors: List[Tensor], keys: List[str], args: List[str]):
    h = tensors[0]
    m = tensors[1].unsqueeze(-1).to(h.dtype)
    v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return v / v.norm(p=2, dim=1, keepdim=True).clamp(min=1e-12)
"""


def timed(rows, n):
    """p50 and p99 in ms of each row, the rows interleaved call by call so that they share
    whatever else the machine is doing."""
    for _, f in rows:
        f()  # warm: sessions, first allocations
    times = {name: [] for name, _ in rows}
    for _ in range(n):
        for name, f in rows:
            s = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - s)
    return {name: (np.percentile(np.array(t) * 1000, 50), np.percentile(np.array(t) * 1000, 99))
            for name, t in times.items()}


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    n = ap.parse_args().n
    server = RedisServer()
    try:
        r = redis.Redis(port=server.port)
        store_pipeline(r)
        before = rss_mib(server.proc.pid)
        s = time.perf_counter()
        try:
            r.execute_command("AI.SCRIPTSTORE", "{e}pool", "CPU", "ENTRY_POINTS", 1, "pool",
                              "SOURCE", SCRIPT)
            script = True
            print(f"TORCH plugin + script load: {time.perf_counter() - s:.2f} s, "
                  f"RSS +{rss_mib(server.proc.pid) - before:.0f} MiB")
        except redis.ResponseError as e:
            script = False
            print(f"no TorchScript row: {e}")
        from tokenizers import Tokenizer
        tok = Tokenizer.from_str(batch_longest_json().decode())
        for batch in (1, 16):
            texts = [f"query number {i}: what is the capital of France?" for i in range(batch)]
            base = embed_ops(texts)[:-11]

            def encode_only():
                r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}minilm", *base)

            def builtin():
                r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}minilm", *embed_ops(texts),
                                  "|>", "AI.TENSORGET", "emb", "BLOB")

            def torchscript():
                r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}minilm", *base,
                                  "|>", "AI.SCRIPTEXECUTE", "{e}pool", "pool", "INPUTS", 2,
                                  "hidden", "mask", "OUTPUTS", 1, "emb",
                                  "|>", "AI.TENSORGET", "emb", "BLOB")

            def client_side():
                enc = tok.encode_batch(texts)
                ids = np.array([e.ids for e in enc], dtype=np.int64)
                mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
                b, s = ids.shape
                out = r.execute_command(
                    "AI.DAGEXECUTE", "ROUTING", "{e}minilm",
                    "|>", "AI.TENSORSET", "ids", "INT64", b, s, "BLOB", ids.tobytes(),
                    "|>", "AI.TENSORSET", "mask", "INT64", b, s, "BLOB", mask.tobytes(),
                    "|>", "AI.TENSORSET", "types", "INT64", b, s, "BLOB",
                    np.zeros_like(ids).tobytes(),
                    "|>", "AI.MODELEXECUTE", "{e}minilm", "INPUTS", 3, "ids", "mask", "types",
                    "OUTPUTS", 1, "h", "|>", "AI.TENSORGET", "h", "BLOB")
                h = np.frombuffer(out[-1], dtype=np.float32).reshape(b, s, -1)
                v = (h * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
                return v / np.linalg.norm(v, axis=1, keepdims=True)

            rows = [("tokenize + encode, no pooling", encode_only),
                    ("server: + AI.POOL (built-in)", builtin)]
            if script:
                rows.append(("server: + AI.SCRIPTEXECUTE (TorchScript)", torchscript))
            rows.append(("client: tokenizers + DAG + numpy", client_side))
            # Pooling alone, on hidden states sent by the client (no model in the way).
            rng = np.random.default_rng(0)
            tokens = 16
            hidden = rng.standard_normal((batch, tokens, 384), dtype=np.float32).tobytes()
            inputs = ["|>", "AI.TENSORSET", "hidden", "FLOAT", batch, tokens, 384, "BLOB", hidden,
                      "|>", "AI.TENSORSET", "mask", "INT64", batch, tokens, "BLOB",
                      np.ones((batch, tokens), np.int64).tobytes()]

            def set_only():
                r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}minilm", *inputs,
                                  "|>", "AI.TENSORGET", "mask", "BLOB")

            def pool_only():
                r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}minilm", *inputs,
                                  "|>", "AI.POOL", "MEAN", "NORMALIZE", "INPUTS", 2, "hidden",
                                  "mask", "OUTPUTS", 1, "emb", "|>", "AI.TENSORGET", "emb", "BLOB")

            def script_only():
                r.execute_command("AI.DAGEXECUTE", "ROUTING", "{e}minilm", *inputs,
                                  "|>", "AI.SCRIPTEXECUTE", "{e}pool", "pool", "INPUTS", 2,
                                  "hidden", "mask", "OUTPUTS", 1, "emb",
                                  "|>", "AI.TENSORGET", "emb", "BLOB")

            rows += [(f"pooling only ({tokens} tokens): tensors, no op", set_only),
                     (f"pooling only ({tokens} tokens): AI.POOL", pool_only)]
            if script:
                rows.append((f"pooling only ({tokens} tokens): TorchScript", script_only))
            for name, (p50, p99) in timed(rows, n).items():
                print(f"batch {batch:2d}  {name:42s} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms")
    finally:
        server.stop()


if __name__ == "__main__":
    if not (TOKENIZER_JSON.exists() and MODEL_ONNX.exists()):
        sys.exit("needs all-MiniLM-L6-v2: make deps-embed")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
