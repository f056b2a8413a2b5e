"""FT.AGGREGATE and FT.CURSOR compared with RediSearch 2.10 itself: the same generated
documents in both, many pipelines (LOAD, APPLY, FILTER, GROUPBY with each reducer, SORTBY MAX,
LIMIT, ADDSCORES, KNN + GROUPBY) and their error texts, in RESP2 and RESP3. Then redis-py's
aggregate API, cursors (paging, DEL, idle expiry, dropped with the index, another ACL user),
and hostile inputs.

Where RediSearch's order is its hash table's (GROUPBY without SORTBY, TOLIST, RANDOM_SAMPLE),
rows and lists are compared as multisets; COUNT_DISTINCTISH (HyperLogLog there, exact here) is
not compared.
"""

import random
import struct
import time

import pytest
import redis
from redis.commands.search.aggregation import AggregateRequest, Asc, Cursor, Desc
from redis.commands.search import reducers

from anchor import Anchor

SCHEMA = ("FT.CREATE", "a", "ON", "HASH", "PREFIX", 1, "p:", "SCHEMA",
          "title", "TEXT", "body", "TEXT", "brand", "TAG", "SORTABLE", "color", "TAG",
          "price", "NUMERIC", "SORTABLE", "stock", "NUMERIC", "name", "TEXT", "SORTABLE",
          "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 3, "DISTANCE_METRIC", "L2")

WORDS = ["red", "fast", "car", "bike", "road", "city", "light", "heavy", "blue", "sky"]
BRANDS = ["Acme", "Globex", "Initech", "Umbrella"]
COLORS = ["red", "green", "blue"]
VEC = struct.pack("3f", 0.5, 0.5, 0.5)


def documents(n, seed):
    rng = random.Random(seed)
    docs = {}
    for i in range(n):
        d = {
            "title": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))),
            "body": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))),
            "brand": rng.choice(BRANDS),
            "price": rng.randint(1, 400) / 4,
            "name": f"Item {i:03d}",
            "extra": f"x{rng.randint(0, 9)}",
            "v": struct.pack("3f", *(rng.random() for _ in range(3))),
        }
        if rng.random() < 0.8:
            d["color"] = rng.choice(COLORS)
        if rng.random() < 0.9:
            d["stock"] = rng.randint(0, 30)
        docs[f"p:{i:03d}"] = d
    return docs


def load(r, docs):
    r.execute_command(*SCHEMA)
    for key, fields in docs.items():
        r.hset(key, mapping=fields)


K = "@__key"
# (arguments after the index name, ordered): `ordered` False compares rows as a multiset.
PIPELINES = [
    (["*", "LOAD", 2, "@__key", "@price", "LIMIT", 0, 1000], True),
    (["*", "LOAD", 3, "@__key", "@extra", "@stock", "LIMIT", 5, 7], True),
    (["*", "LOAD", 1, "@__key", "FILTER", "@price > 50"], True),
    (["*", "LOAD", 1, "@__key", "FILTER", "@price > 5000"], True),
    (["@brand:{Acme}", "LOAD", 2, "@__key", "@title"], True),
    (["fast car", "LOAD", 1, "@__key"], True),
    (["*", "LOAD", 2, "@__key", "@price", "APPLY", "@price * 2 + 1", "AS", "p2",
      "APPLY", "floor(@p2 / 3) % 5", "AS", "m", "FILTER", "@m != 2 && @p2 >= 20"], True),
    (["*", "LOAD", 2, "@__key", "@title", "APPLY", "upper(@title)", "AS", "u",
      "APPLY", "substr(@title, 1, 3)", "AS", "s", "APPLY", "strlen(@title)", "AS", "l",
      "APPLY", "format(\"%s-%s\", @__key, @title)", "AS", "f",
      "APPLY", "contains(@title, \"a\")", "AS", "c",
      "APPLY", "startswith(@title, \"fa\")", "AS", "sw", "LIMIT", 0, 50], True),
    (["*", "LOAD", 2, "@__key", "@stock", "APPLY", "exists(@stock)", "AS", "e",
      "APPLY", "sqrt(@price) + log(@price) + abs(@price - 50) + ceil(@price) + log2(@price)",
      "AS", "m", "LIMIT", 0, 40], True),
    (["*", "LOAD", 1, "@__key", "APPLY", "timefmt(@price * 1000000)", "AS", "t",
      "APPLY", "year(@price * 10000000)", "AS", "y", "APPLY", "hour(@price * 1000)", "AS", "h",
      "APPLY", "dayofweek(@price * 100000)", "AS", "d", "LIMIT", 0, 30], True),
    (["*", "APPLY", "split(\"a, b ,c\")", "AS", "parts", "LIMIT", 0, 2], True),
    # `+` is always an operator, `-` starts a number: RediSearch's lexer.
    (["*", "LOAD", 1, "@price", "APPLY", "@price+1", "AS", "a", "APPLY", "2+1", "AS", "b",
      "APPLY", "@price +-1", "AS", "c", "APPLY", "@price*-1", "AS", "d", "APPLY", "2e-1+1",
      "AS", "e", "APPLY", "-inf", "AS", "f", "APPLY", "+inf", "AS", "g", "SORTBY", 2,
      "@price", "ASC", "LIMIT", 0, 5], True),
    (["*", "GROUPBY", 1, "@brand", "REDUCE", "COUNT", 0, "AS", "n",
      "REDUCE", "SUM", 1, "@price", "AS", "sum", "REDUCE", "AVG", 1, "@price", "AS", "avg",
      "REDUCE", "MIN", 1, "@price", "AS", "min", "REDUCE", "MAX", 1, "@price", "AS", "max",
      "REDUCE", "STDDEV", 1, "@price", "AS", "sd",
      "REDUCE", "COUNT_DISTINCT", 1, "@color", "AS", "cd"], False),
    (["*", "GROUPBY", 2, "@brand", "@color", "REDUCE", "COUNT", 0], False),
    (["*", "GROUPBY", 1, "@color", "REDUCE", "SUM", 1, "@stock"], False),
    (["*", "GROUPBY", 1, "@brand", "REDUCE", "QUANTILE", 2, "@price", "0.5", "AS", "q"], False),
    (["*", "GROUPBY", 1, "@brand", "REDUCE", "FIRST_VALUE", 4, "@name", "BY", "@price", "DESC",
      "AS", "top"], False),
    (["*", "GROUPBY", 1, "@brand", "REDUCE", "COUNT", 0, "AS", "n", "SORTBY", 2, "@n", "DESC"],
     True),
    (["*", "GROUPBY", 1, "@brand", "REDUCE", "SUM", 1, "@price", "AS", "s",
      "APPLY", "@s / 2", "AS", "half", "FILTER", "@half > 10", "SORTBY", 2, "@brand", "ASC"],
     True),
    (["*", "LOAD", 1, "@__key", "SORTBY", 4, "@price", "DESC", "@__key", "ASC"], True),
    (["*", "LOAD", 1, "@__key", "SORTBY", 4, "@price", "ASC", "@__key", "ASC", "MAX", 25], True),
    (["*", "LOAD", 1, "@__key", "SORTBY", 4, "@stock", "ASC", "@__key", "DESC",
      "LIMIT", 10, 20], True),
    (["*", "SORTBY", 2, "@name", "DESC", "LIMIT", 0, 15], True),
    (["@price:[10 60]", "GROUPBY", 0, "REDUCE", "COUNT", 0, "AS", "n",
      "REDUCE", "AVG", 1, "@price", "AS", "a"], True),
    (["*", "APPLY", "@price", "AS", "pp", "LIMIT", 3, 4], True),
    (["*=>[KNN 10 @v $b AS dist]", "PARAMS", 2, "b", VEC, "DIALECT", 2,
      "LOAD", 1, "@__key", "SORTBY", 2, "@dist", "ASC"], True),
    (["*=>[KNN 30 @v $b AS dist]", "PARAMS", 2, "b", VEC, "DIALECT", 2,
      "GROUPBY", 1, "@brand", "REDUCE", "MIN", 1, "@dist", "AS", "best",
      "REDUCE", "COUNT", 0, "AS", "n", "SORTBY", 2, "@best", "ASC"], True),
    (["(@brand:{Acme|Globex})=>[KNN 15 @v $b AS dist]", "PARAMS", 2, "b", VEC, "DIALECT", 2,
      "LOAD", 2, "@__key", "@brand", "APPLY", "1 - @dist", "AS", "sim",
      "SORTBY", 4, "@sim", "DESC", "@__key", "ASC"], True),
    (["*", "LOAD", "*", "LIMIT", 0, 3], True),
    (["*", "GROUPBY", 1, "@brand", "REDUCE", "TOLIST", 1, "@color", "AS", "colors"], False),
    (["*", "APPLY", "@price * 2", "AS", "x", "LOAD", 2, "@__key", "@stock", "LIMIT", 0, 5], True),
    (["*", "SORTBY", 4, "@price", "DESC", "@name", "ASC", "LOAD", 1, "@__key", "LIMIT", 0, 5], True),
]

ERRORS = [
    ["*", "GROUPBY", 1, "@brand", "REDUCE", "SUM", 0],
    ["*", "GROUPBY", 1, "@brand", "REDUCE", "COUNT", 1, "@price"],
    ["*", "GROUPBY", 1, "@brand", "REDUCE", "QUANTILE", 2, "@price", 2],
    ["*", "GROUPBY", 1, "@brand", "REDUCE", "NOPE", 0],
    ["*", "GROUPBY", 1, "@nope"],
    ["*", "GROUPBY", 2, "@brand"],
    ["*", "GROUPBY", "x"],
    ["*", "GROUPBY", 1, "brand"],
    ["*", "SORTBY", 1, "@nope"],
    ["*", "SORTBY", 3, "@price"],
    ["*", "SORTBY", 2, "@price", "UP"],
    ["*", "LIMIT", 0],
    ["*", "LIMIT", -1, 2],
    ["*", "APPLY", "@price", "AS"],
    ["*", "FILTER"],
    ["*", "APPLY", "1 +", "AS", "x"],
    ["*", "APPLY", "+1", "AS", "x"],
    ["*", "APPLY", "1-1", "AS", "x"],
    ["*", "APPLY", "1e+2", "AS", "x"],
    ["*", "APPLY", "1+inf", "AS", "x"],
    ["*", "APPLY", "nofunc(1)", "AS", "x"],
    ["*", "APPLY", "lower(1, 2)", "AS", "x"],
    ["*", "APPLY", "@stock * 2", "AS", "x"],
    ["*", "FILTER", "@title == 'x'"],
    ["*", "LOAD", 1, "@title", "APPLY", "@title + 1", "AS", "x"],
    ["*", "APPLY", "to_number(\"x\")", "AS", "x"],
    ["*", "LOAD", 2, "@title"],
    ["*", "BOGUS"],
    ["*", "WITHCURSOR", "COUNT", 0],
    ["*", "WITHCURSOR", "MAXIDLE", 0],
    ["*", "WITHCURSOR", "COUNT", "x"],
    ["*", "DIALECT", 9],
    ["*=>[KNN 3 @v $missing]", "DIALECT", 2],
]


def normalise(reply, ordered):
    """A reply with its lists made comparable: bytes decoded; where the order is RediSearch's
    hash order, rows (and each row's list values) sorted."""
    def value(v):
        if isinstance(v, list):
            return sorted(value(x) for x in v)
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        return v

    if isinstance(reply, dict):
        rows = [tuple((k.decode(), value(v)) for k, v in r[b"extra_attributes"].items())
                for r in reply[b"results"]]
        total = reply[b"total_results"]
        keys = sorted(k.decode() for k in reply)
    else:
        total, rows, keys = reply[0], [], None
        for r in reply[1:]:
            rows.append(tuple((r[i].decode(), value(r[i + 1])) for i in range(0, len(r), 2)))
    rows = [tuple((k, str(v)) for k, v in r) for r in rows]
    if not ordered:
        rows.sort()
    return total, rows, keys


def run_all(r):
    out = {}
    for i, (args, ordered) in enumerate(PIPELINES):
        try:
            out[("ok", i)] = normalise(r.execute_command("FT.AGGREGATE", "a", *args), ordered)
        except redis.ResponseError as e:
            out[("ok", i)] = ("error", str(e))
    for i, args in enumerate(ERRORS):
        try:
            r.execute_command("FT.AGGREGATE", "a", *args)
            out[("err", i)] = "accepted"
        except redis.ResponseError as e:
            out[("err", i)] = str(e)
    return out


@pytest.fixture(scope="module")
def theirs():
    """RediSearch's answers in both protocols, computed once."""
    docs = documents(240, 7)
    anchor = Anchor()
    try:
        answers = {}
        for proto in (2, 3):
            c = anchor.client(protocol=proto)
            if proto == 2:
                load(c, docs)
            answers[proto] = run_all(c)
        return docs, answers
    finally:
        anchor.stop()


def test_pipelines_and_errors_are_redisearchs(server, theirs, protocol):
    docs, answers = theirs
    load(redis.Redis(port=server.port), docs)
    mine = run_all(redis.Redis(port=server.port, protocol=protocol))
    expected = answers[protocol]
    bad = []
    for key, want in expected.items():
        got = mine[key]
        if got != want:
            what = PIPELINES[key[1]][0] if key[0] == "ok" else ERRORS[key[1]]
            bad.append(f"{what}:\n   ours   {str(got)[:400]}\n   theirs {str(want)[:400]}")
    assert not bad, f"{len(bad)} of {len(expected)} differ:\n" + "\n".join(bad)


def test_cursor_pages_like_redisearch(server, theirs):
    docs, _ = theirs
    r = redis.Redis(port=server.port)
    load(r, docs)
    reply, cid = r.execute_command("FT.AGGREGATE", "a", "*", "LOAD", 1, "@__key",
                                   "WITHCURSOR", "COUNT", 50)
    keys = [row[1] for row in reply[1:]]
    assert len(keys) == 50 and cid != 0
    while cid:
        reply, cid = r.execute_command("FT.CURSOR", "READ", "a", cid, "COUNT", 70)
        keys += [row[1] for row in reply[1:]]
    assert keys == sorted(k.encode() for k in docs)
    # A finished cursor is gone.
    with pytest.raises(redis.ResponseError, match="Cursor not found"):
        r.execute_command("FT.CURSOR", "READ", "a", 12345)
    with pytest.raises(redis.ResponseError, match="Cursor does not exist"):
        r.execute_command("FT.CURSOR", "DEL", "a", 12345)
    with pytest.raises(redis.ResponseError, match="Bad cursor ID"):
        r.execute_command("FT.CURSOR", "READ", "a", "x")
    with pytest.raises(redis.ResponseError, match="Unknown subcommand"):
        r.execute_command("FT.CURSOR", "FOO", "a", 1)
    # DEL ends one; a cursor idle past MAXIDLE expires.
    _, cid = r.execute_command("FT.AGGREGATE", "a", "*", "WITHCURSOR", "COUNT", 1)
    assert r.execute_command("FT.CURSOR", "DEL", "a", cid) == b"OK"
    with pytest.raises(redis.ResponseError, match="Cursor not found"):
        r.execute_command("FT.CURSOR", "READ", "a", cid)
    _, cid = r.execute_command("FT.AGGREGATE", "a", "*", "WITHCURSOR", "COUNT", 1, "MAXIDLE", 50)
    time.sleep(0.2)
    with pytest.raises(redis.ResponseError, match="Cursor not found"):
        r.execute_command("FT.CURSOR", "READ", "a", cid)
    # Dropping the index ends its cursors.
    _, cid = r.execute_command("FT.AGGREGATE", "a", "*", "WITHCURSOR", "COUNT", 1)
    r.execute_command("FT.DROPINDEX", "a")
    r.execute_command(*SCHEMA)
    with pytest.raises(redis.ResponseError, match="Cursor not found"):
        r.execute_command("FT.CURSOR", "READ", "a", cid)


def test_cursor_belongs_to_its_user_and_is_bounded(server):
    r = redis.Redis(port=server.port)
    r.execute_command("FT.CREATE", "c", "PREFIX", 1, "c:", "SCHEMA", "n", "NUMERIC")
    for i in range(10):
        r.hset(f"c:{i}", "n", i)
    r.execute_command("ACL", "SETUSER", "other", "on", ">pw", "~*", "+@all")
    _, cid = r.execute_command("FT.AGGREGATE", "c", "*", "LOAD", 1, "@n", "WITHCURSOR", "COUNT", 1)
    other = redis.Redis(port=server.port, username="other", password="pw")
    with pytest.raises(redis.ResponseError, match="Cursor not found"):
        other.execute_command("FT.CURSOR", "READ", "c", cid)
    with pytest.raises(redis.ResponseError, match="Cursor does not exist"):
        other.execute_command("FT.CURSOR", "DEL", "c", cid)
    info = r.execute_command("FT.INFO", "c")
    stats = info[info.index(b"cursor_stats") + 1]
    assert dict(zip(stats[::2], stats[1::2]))[b"index_total"] == 1
    reply, _ = r.execute_command("FT.CURSOR", "READ", "c", cid)
    assert len(reply) == 2
    # At most 128 open cursors per index, as RediSearch's default capacity.
    made = 1
    with pytest.raises(redis.ResponseError, match="Too many cursors allocated for index"):
        for _ in range(200):
            r.execute_command("FT.AGGREGATE", "c", "*", "WITHCURSOR", "COUNT", 1)
            made += 1
    assert made == 128


def rows_of(res):
    """redis-py parses RESP2 into an AggregateResult; under RESP3 it returns RediSearch's map
    (with a cursor, `[map, cursor id]`)."""
    if isinstance(res, list):
        res = res[0]
    if isinstance(res, dict):
        return [r["extra_attributes"] for r in res["results"]]
    return [dict(zip(row[::2], row[1::2])) for row in res.rows]


def test_redis_py_aggregate_api(server, protocol):
    r = redis.Redis(port=server.port, protocol=protocol, decode_responses=True)
    load(redis.Redis(port=server.port), documents(100, 3))
    req = (AggregateRequest("*")
           .group_by("@brand", reducers.count().alias("n"), reducers.avg("@price").alias("avg"),
                     reducers.tolist("@color").alias("colors"))
           .apply(double="@avg * 2")
           .filter("@n > 0")
           .sort_by(Desc("@n"), Asc("@brand"), max=10))
    rows = rows_of(r.ft("a").aggregate(req))
    assert len(rows) == len(BRANDS)
    counts = [int(row["n"]) for row in rows]
    assert sum(counts) == 100 and counts == sorted(counts, reverse=True)
    assert all(float(row["double"]) == pytest.approx(2 * float(row["avg"])) for row in rows)
    # Paging with a cursor: redis-py's own in RESP2, FT.CURSOR READ by hand in RESP3.
    req = AggregateRequest("*").load("@__key").cursor(count=30)
    res = r.ft("a").aggregate(req)
    keys = [row["__key"] for row in rows_of(res)]
    if protocol == 2:
        while res.cursor and res.cursor.cid:
            res = r.ft("a").aggregate(res.cursor)
            keys += [row["__key"] for row in rows_of(res)]
    else:
        cid = res[1]
        while cid:
            page, cid = r.execute_command("FT.CURSOR", "READ", "a", cid)
            keys += [row["__key"] for row in rows_of(page)]
    assert keys == sorted(keys) and len(keys) == 100


def test_hostile_inputs(server):
    r = redis.Redis(port=server.port)
    r.execute_command("FT.CREATE", "h", "PREFIX", 1, "h:", "SCHEMA", "n", "NUMERIC", "SORTABLE",
                      "t", "TAG")
    pipe = r.pipeline(transaction=False)
    for i in range(20000):
        pipe.hset(f"h:{i}", mapping={"n": i, "t": f"t{i}"})
    pipe.execute()
    for expr in ["(" * 10000 + "1" + ")" * 10000, "!" * 100000 + "1", "^".join(["2"] * 5000),
                 "lower(" * 3000 + "'x'" + ")" * 3000, "\x00\xff@\\", "'unterminated", "@",
                 "1" * 70000]:
        with pytest.raises(redis.ResponseError):
            r.execute_command("FT.AGGREGATE", "h", "*", "APPLY", expr, "AS", "x")
    # A GROUPBY with one group per document answers, counting them all.
    reply = r.execute_command("FT.AGGREGATE", "h", "*", "GROUPBY", 1, "@t",
                              "REDUCE", "COUNT", 0, "AS", "c", "LIMIT", 0, 1)
    assert reply[0] == 20000
    # Counts larger than the arguments, absurd numbers.
    for args in [["GROUPBY", 2 ** 63], ["LOAD", 2 ** 64], ["SORTBY", 99999, "@n"],
                 ["GROUPBY", 1, "@t", "REDUCE", "COUNT", 2 ** 40],
                 ["GROUPBY", 1, "@t", "REDUCE", "RANDOM_SAMPLE", 2, "@n", 10 ** 12],
                 ["PARAMS", 3, "a", "b"], ["LIMIT", 0, 2 ** 64], ["SORTBY", 1, "@n", "MAX", -1]]:
        with pytest.raises(redis.ResponseError):
            r.execute_command("FT.AGGREGATE", "h", "*", *args)
    # FT.HYBRID: counts that lie, absurd numbers, hostile expressions afterwards.
    r.execute_command("FT.CREATE", "hv", "PREFIX", 1, "hv:", "SCHEMA", "t", "TEXT",
                      "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 2, "DISTANCE_METRIC", "L2")
    vec = struct.pack("2f", 1, 2)
    for args in [["SEARCH"], ["SEARCH", "x", "VSIM"], ["SEARCH", "x", "VSIM", "@v", vec, "KNN", 2 ** 64],
                 ["SEARCH", "x", "VSIM", "@v", vec, "KNN", 2, "K", 2 ** 70],
                 ["SEARCH", "x", "VSIM", "@v", vec, "RANGE", 2, "RADIUS", "nan"],
                 ["SEARCH", "x", "VSIM", "@v", vec, "COMBINE", "RRF", 2, "WINDOW", -1],
                 ["SEARCH", "x", "VSIM", "@v", vec, "APPLY", "(" * 5000, "AS", "y"],
                 ["SEARCH", "x", "VSIM", "@v", b"short"]]:
        with pytest.raises(redis.ResponseError):
            r.execute_command("FT.HYBRID", "hv", *args)
    # Cursor abuse: reading other ids, huge counts, many cursors: refused, server alive.
    for cid in [0, -1, 2 ** 63, "1e9"]:
        with pytest.raises(redis.ResponseError):
            r.execute_command("FT.CURSOR", "READ", "h", cid)
    _, cid = r.execute_command("FT.AGGREGATE", "h", "*", "WITHCURSOR", "COUNT", 1)
    reply, cid = r.execute_command("FT.CURSOR", "READ", "h", cid, "COUNT", 10 ** 9)
    assert cid == 0 and len(reply) == 20000
    assert r.ping()
