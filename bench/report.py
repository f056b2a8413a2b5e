"""Draws target/bench/report.md and its PNGs from the JSON `redisai-bench --suites report`
wrote (and picks up the vector recall-QPS plot that bench/search_bench.py leaves beside it).

    python bench/report.py [DIR]      (default DIR: target/bench)

Every figure names the machine it ran on and the baseline measured in the same run: absolute
numbers from a shared 2-core VM say little, ratios to PING/GET of the same second say more.
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def machine_line(data):
    m = data["machine"]
    pinned = "server pinned to one CPU, clients on the others" if m.get("pinned") else "unpinned"
    return (f"{m['nproc']} CPUs, {m['cpu']}; load average {m['load_start']} at start, "
            f"{data.get('load_end', '?')} at end; {pinned}")


def footer(fig, data, baseline):
    fig.text(0.01, 0.01, f"{machine_line(data)}\nbaseline: {baseline}", fontsize=7, va="bottom")


def latency_cdf(data, out):
    lat = data["latency"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, qs in lat.items():
        n = len(qs)
        label = name if name in ("PING", "GET") else f"AI.MODELEXECUTE MLP, {name}"
        style = "--" if "queued" in name else "-"
        ax.plot(qs, [i / (n - 1) for i in range(n)], style, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("round trip, µs (one client, commands interleaved call by call)")
    ax.set_ylabel("fraction of calls")
    ax.set_title("Latency CDF: AI.MODELEXECUTE of a tiny MLP against GET and PING")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.subplots_adjust(bottom=0.2)
    footer(fig, data, "PING and GET of a 16-byte string, same connection, same seconds")
    fig.savefig(out / "latency_cdf.png", dpi=110)
    plt.close(fig)


def throughput(data, out):
    t = data["throughput"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, ops in t["series"].items():
        label = name if name in ("PING", "GET") else f"AI.MODELEXECUTE MLP, {name}"
        ax.plot(t["clients"], ops, "o-", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent clients (one command in flight each)")
    ax.set_ylabel("commands per second")
    ax.set_title("Throughput against clients")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.subplots_adjust(bottom=0.2)
    footer(fig, data, "PING and GET measured in the same rounds")
    fig.savefig(out / "throughput_clients.png", dpi=110)
    plt.close(fig)


def batching(data, out):
    b = data["batching"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for t in sorted({p["min_timeout_ms"] for p in b["points"]}):
        pts = [p for p in b["points"] if p["min_timeout_ms"] == t]
        label = "no MINBATCHSIZE" if t == 0 else f"MINBATCHSIZE = BATCHSIZE, MINBATCHTIMEOUT {t} ms"
        xs = [p["batchsize"] for p in pts]
        ax.errorbar(xs, [p["ratio"] for p in pts],
                    yerr=[[p["ratio"] - p["ratio_min"] for p in pts], [p["ratio_max"] - p["ratio"] for p in pts]],
                    fmt="o-", capsize=3, label=label)
    ax.axhline(1, color="grey", lw=0.8)
    ceiling = ping_ceiling(data)
    if ceiling:
        ax.axhline(ceiling, color="black", lw=0.8, ls="--",
                   label=f"PING from {b['clients']} clients ÷ unbatched, same rounds (for scale)")
    ax.axhline(4, color="red", lw=0.8, ls=":", label="issue 20's target (4x)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("BATCHSIZE")
    ax.set_ylabel("runs/s ÷ unbatched runs/s")
    ax.set_title(f"Auto-batching, `{b['model']}` (two 1024-wide layers), {b['clients']} one-row clients")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.subplots_adjust(bottom=0.2)
    footer(fig, data, f"the same model unbatched, and PING, from as many clients in each round: medians {b['unbatched']:.0f} and {b.get('ping', 0):.0f}/s")
    fig.savefig(out / "batching.png", dpi=110)
    plt.close(fig)


def ping_ceiling(data):
    """PING's rate from as many clients over the unbatched rate, for scale. It is not a hard
    ceiling where the load generator shares a CPU: blocked clients answered together cost
    the clients less per reply than PING's one-by-one answers."""
    b = data["batching"]
    if b.get("ping") and b["unbatched"] > 0:
        return b["ping"] / b["unbatched"]
    return None


def pct(qs, p):
    return qs[min(len(qs) - 1, round(p * (len(qs) - 1)))]


def markdown(data, out):
    lat, t, b = data["latency"], data["throughput"], data["batching"]
    lines = [
        "# redisai benchmark report",
        "",
        f"Machine: {machine_line(data)}. Written by `make bench` "
        f"({data['config']['rounds']} rounds of {data['config']['seconds']} s per point).",
        "",
        "## Latency (one client)",
        "",
        "![latency CDF](latency_cdf.png)",
        "",
        "| command | p50 µs | p90 µs | p99 µs | p50 ÷ PING p50 |",
        "|---|---|---|---|---|",
    ]
    ping50 = pct(lat["PING"], 0.5)
    for name, qs in lat.items():
        label = name if name in ("PING", "GET") else f"AI.MODELEXECUTE MLP, {name}"
        lines.append(f"| {label} | {pct(qs, .5):.1f} | {pct(qs, .9):.1f} | {pct(qs, .99):.1f} | "
                     f"{pct(qs, .5) / ping50:.2f} |")
    lines += ["", "## Throughput against clients", "", "![throughput](throughput_clients.png)", "",
              "| clients | " + " | ".join(t["series"]) + " | ONNX ÷ GET |",
              "|---" * (len(t["series"]) + 2) + "|"]
    for k, c in enumerate(t["clients"]):
        row = [f"{t['series'][n][k]:.0f}" for n in t["series"]]
        ratio = t["series"]["ONNX"][k] / t["series"]["GET"][k] if "ONNX" in t["series"] else float("nan")
        lines.append(f"| {c:.0f} | " + " | ".join(row) + f" | {ratio:.2f} |")
    lines += ["", "## Auto-batching", "", "![batching](batching.png)", "",
              f"Unbatched `{b['model']}` from {b['clients']} clients: {b['unbatched']:.0f} runs/s (median); "
              f"PING from as many clients in the same rounds: "
              f"{(ping_ceiling(data) or float('nan')):.2f}× that.", "",
              "| BATCHSIZE | MINBATCHTIMEOUT ms (0: no MINBATCHSIZE) | runs/s | ÷ unbatched (min – max over rounds) |",
              "|---|---|---|---|"]
    for p in b["points"]:
        lines.append(f"| {p['batchsize']} | {p['min_timeout_ms']} | {p['ops']:.0f} | "
                     f"{p['ratio']:.2f} ({p['ratio_min']:.2f} – {p['ratio_max']:.2f}) |")
    lines += ["", "## Vector search", ""]
    plots = [p for p in ("recall_qps.png", "vector_recall_qps.png", "search_recall_qps.png") if (out / p).exists()]
    for p in plots:
        lines += [f"![recall against QPS]({p})", ""]
    if plots:
        lines += ["From `bench/vector_bench.py` and `bench/search_bench.py` (data set and baselines "
                  "in their own notes: hnswlib, RediSearch 2.10.5)."]
    else:
        lines += ["No recall-QPS plot in this run (bench/vector_bench.py and bench/search_bench.py draw them)."]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "target/bench")
    data = json.loads((out / "report.json").read_text())
    latency_cdf(data, out)
    throughput(data, out)
    batching(data, out)
    markdown(data, out)
    print(f"wrote {out / 'report.md'}")


if __name__ == "__main__":
    main()
