"""Stream pipelines (AI.PIPELINE): events/s and end-to-end latency at fixed XADD rates.

    REDISAI_MODULE=target/release/libredisai.so .venv/bin/python bench/stream_bench.py [--seconds 5]

One producer XADDs at a fixed rate (a paced loop, one XADD per round trip); the server scores
with a pipeline and writes an output stream. End-to-end latency is the output entry's id time
minus the input entry's id time (both the server's clock, millisecond resolution). Two models:
a linear scorer (4 floats in, the pipeline's own overhead) and, with all-MiniLM-L6-v2 present
(`make deps-embed`), text -> tokenizer -> encoder -> AI.POOL. Prints one row per rate.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/python"))
from redis_server import RedisServer  # noqa: E402
from test_pipelines import FEATURES, linear_onnx  # noqa: E402
from test_text import MODEL_ONNX, TOKENIZER_JSON, batch_longest_json  # noqa: E402


def run(r, name, stream, out, rate, seconds, make_fields):
    r.delete(stream, out)
    before = dict(zip(*[iter(r.execute_command("AI.PIPELINE", "INFO", name))] * 2))[b"batches"]
    n = int(rate * seconds)
    start = time.perf_counter()
    ids = []
    for i in range(n):
        ids.append(r.xadd(stream, make_fields(i)))
        delay = start + (i + 1) / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    sent = time.perf_counter() - start
    deadline = time.time() + 120
    while r.xlen(out) < n and time.time() < deadline:
        time.sleep(0.005)
    total = time.perf_counter() - start
    res = r.xrange(out)
    done = {f[b"id"]: int(rid.split(b"-")[0]) for rid, f in res}
    lat = np.array([done[i] - int(i.split(b"-")[0]) for i in ids if i in done])
    info = r.execute_command("AI.PIPELINE", "INFO", name)
    info = dict(zip(info[::2], info[1::2]))
    p50, p99 = np.percentile(lat, [50, 99]) if len(lat) else (float("nan"),) * 2
    print(f"| {name} | {rate} | {n / sent:,.0f} | {len(done) / total:,.0f} | {len(done)}/{n} "
          f"| {p50:.0f} | {p99:.0f} | {info[b'batches'] - before} |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rates", default="200,1000,3000")
    ap.add_argument("--text-rates", default="10,25")
    args = ap.parse_args()
    s = RedisServer()
    try:
        r = redis.Redis(port=s.port)
        r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", linear_onnx())
        r.execute_command(
            "AI.PIPELINE", "ADD", "linear", "STREAM", "in", "FIELD", "x", "INPUT", "x", "FLOAT",
            FEATURES, "BATCH", 64, "MAXLATENCY", 2, "OUTPUT", "STREAM", "out", "OUTPUTS", 1, "y",
            "DAG", "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
        x = np.ones(FEATURES, np.float32).tobytes()
        print("| pipeline | XADD/s asked | XADD/s sent | scored/s | scored | e2e p50 ms "
              "| e2e p99 ms | batches |")
        print("|---|---|---|---|---|---|---|---|")
        for rate in map(int, args.rates.split(",")):
            run(r, "linear", "in", "out", rate, args.seconds, lambda i: {"x": x})
        if not (MODEL_ONNX.exists() and TOKENIZER_JSON.exists()):
            print("text rows skipped: no all-MiniLM-L6-v2 (make deps-embed)")
            return
        r.execute_command("AI.MODELSTORE", "tok", "TOKENIZER", "CPU", "BLOB", batch_longest_json())
        r.execute_command("AI.MODELSTORE", "enc", "ONNX", "CPU", "BLOB", MODEL_ONNX.read_bytes())
        r.execute_command(
            "AI.PIPELINE", "ADD", "text", "STREAM", "tin", "FIELD", "text", "INPUT", "text",
            "STRING", "BATCH", 16, "MAXLATENCY", 5, "OUTPUT", "STREAM", "tout", "OUTPUTS", 1, "emb",
            "DAG", "|>", "AI.MODELEXECUTE", "tok", "INPUTS", 1, "text", "OUTPUTS", 3, "i", "k", "t",
            "|>", "AI.MODELEXECUTE", "enc", "INPUTS", 3, "i", "k", "t", "OUTPUTS", 1, "h",
            "|>", "AI.POOL", "MEAN", "NORMALIZE", "INPUTS", 2, "h", "k", "OUTPUTS", 1, "emb")
        for rate in map(int, args.text_rates.split(",")):
            run(r, "text", "tin", "tout", rate, args.seconds,
                lambda i: {"text": f"a customer message number {i} about a late parcel"})
    finally:
        s.stop()


if __name__ == "__main__":
    main()
