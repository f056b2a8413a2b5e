"""Helpers for the vector-search tests: clients, reply normalisation (RESP2 `Result` objects and
RESP3 maps to one shape), brute-force ground truth, waiting for a background scan."""

import time
from dataclasses import dataclass, field

import numpy as np
import redis

# FT.INFO attribute flags: bare words after the key/value pairs (RESP2) or in `flags` (RESP3).
ATTRIBUTE_FLAGS = {
    "CASESENSITIVE", "SORTABLE", "UNF", "NOSTEM", "NOINDEX", "WITHSUFFIXTRIE", "INDEXEMPTY",
    "INDEXMISSING",
}


def client(server, protocol=2, decode_responses=False, **kw):
    return redis.Redis(host="127.0.0.1", port=server.port, protocol=protocol,
                       decode_responses=decode_responses, socket_timeout=60, **kw)


def dec(x):
    """bytes -> str recursively where the bytes are UTF-8 (vector blobs stay bytes)."""
    if isinstance(x, bytes):
        try:
            return x.decode()
        except UnicodeDecodeError:
            return x
    if isinstance(x, dict):
        return {dec(k): dec(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [dec(v) for v in x]
    if isinstance(x, set):
        return {dec(v) for v in x}
    return x


@dataclass
class Doc:
    id: str
    fields: dict = field(default_factory=dict)
    score: float = None


@dataclass
class Found:
    total: int
    docs: list

    @property
    def ids(self):
        return [d.id for d in self.docs]


def found(res, with_scores=False) -> Found:
    """A redis-py search answer, RESP2 (`Result`) or RESP3 (raw map), as `Found`. In RESP2 a
    `Document` keeps WITHSCORES' score in the attribute `score`, so only then is `score` not a
    field (redis-py cannot return a field named `score` together with WITHSCORES)."""
    if isinstance(res, dict):
        res = dec(res)
        assert set(res) >= {"total_results", "results"}, f"RESP3 FT.SEARCH reply lacks keys: {res!r}"
        docs = []
        for item in res["results"]:
            assert "id" in item, f"RESP3 result without id: {item!r}"
            fields = dict(item.get("extra_attributes") or {})
            docs.append(Doc(item["id"], fields, item.get("score")))
        return Found(res["total_results"], docs)
    docs = []
    for d in res.docs:
        skip = ("id", "payload", "score") if with_scores else ("id", "payload")
        fields = {k: v for k, v in d.__dict__.items() if k not in skip}
        docs.append(Doc(dec(d.id), fields, d.score if with_scores else None))
    return Found(res.total, docs)


def resp3(r) -> bool:
    return r.connection_pool.connection_kwargs.get("protocol") in (3, "3")


def search(r, index, query, params=None) -> Found:
    with_scores = getattr(query, "_with_scores", False)
    res = r.ft(index).search(query, query_params=params)
    # redis-py 7 hands RESP3 replies over raw (a map); RESP2 ones parsed into a Result
    assert isinstance(res, dict) == resp3(r), f"protocol {resp3(r) and 3 or 2} but reply {type(res)}"
    return found(res, with_scores)


def raw_search(r, *args) -> Found:
    """FT.SEARCH through execute_command: RESP2 flat array or RESP3 map."""
    res = r.execute_command("FT.SEARCH", *args)
    assert isinstance(res, dict) == resp3(r), f"protocol {resp3(r) and 3 or 2} but reply {res!r}"
    if isinstance(res, dict):
        return found(res)
    res = dec(res)
    assert isinstance(res, list) and res and isinstance(res[0], int), f"bad FT.SEARCH reply {res!r}"
    total, rest = res[0], res[1:]
    nocontent = any(str(a).upper() == "NOCONTENT" for a in args)
    docs = []
    if nocontent:
        docs = [Doc(i) for i in rest]
    else:
        for i in range(0, len(rest), 2):
            flat = rest[i + 1] or []
            docs.append(Doc(rest[i], dict(zip(flat[::2], flat[1::2]))))
    return Found(total, docs)


def parse_attribute(attr):
    """One FT.INFO attribute (RESP2 flat list or RESP3 map) as a dict with a `flags` list."""
    attr = dec(attr)
    if isinstance(attr, dict):
        out = {str(k): v for k, v in attr.items()}
        out["flags"] = list(out.get("flags") or [])
        return out
    out, flags, i = {}, [], 0
    while i < len(attr):
        tok = attr[i]
        if isinstance(tok, str) and tok.upper() in ATTRIBUTE_FLAGS:
            flags.append(tok.upper())
            i += 1
            continue
        assert i + 1 < len(attr), f"odd FT.INFO attribute list {attr!r}"
        out[str(tok)] = attr[i + 1]
        i += 2
    out["flags"] = flags
    return out


def info(r, index) -> dict:
    """FT.INFO as a dict with str keys; index_definition as a dict; attributes as dicts."""
    raw = r.ft(index).info()
    d = dec(raw)
    if isinstance(d, list):  # execute_command path
        d = dict(zip(d[::2], d[1::2]))
    d = {str(k): v for k, v in d.items()}
    idef = d.get("index_definition")
    if isinstance(idef, list):
        idef = dict(zip(idef[::2], idef[1::2]))
    d["index_definition"] = idef
    d["attributes"] = [parse_attribute(a) for a in d.get("attributes", [])]
    return d


def ft_list(r) -> set:
    res = dec(r.execute_command("FT._LIST"))
    assert isinstance(res, (list, set)), f"FT._LIST answered {res!r}"
    return set(res)


def wait_indexed(r, index, timeout=30.0):
    """Polls FT.INFO until percent_indexed == 1 and indexing == 0 (background scan done)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = info(r, index)
        if float(last["percent_indexed"]) == 1.0 and int(last["indexing"]) == 0:
            return last
        time.sleep(0.05)
    raise AssertionError(f"index {index} still indexing after {timeout}s: "
                         f"percent_indexed={last.get('percent_indexed')!r} indexing={last.get('indexing')!r}")


# --- ground truth ---------------------------------------------------------------------------

def distances(X, q, metric):
    """RediSearch's distances in float64: L2 squared, COSINE 1-cos, IP 1-dot."""
    X = np.asarray(X, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if metric == "L2":
        return ((X - q) ** 2).sum(axis=1)
    if metric == "IP":
        return 1.0 - X @ q
    if metric == "COSINE":
        return 1.0 - (X @ q) / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))
    raise ValueError(metric)


def knn(X, q, metric, k, ids=None):
    """[(id, distance)] of the k nearest, ids default to row numbers."""
    d = distances(X, q, metric)
    order = np.argsort(d, kind="stable")[:k]
    ids = ids if ids is not None else list(range(len(X)))
    return [(ids[i], float(d[i])) for i in order]
