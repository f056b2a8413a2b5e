"""FT.PROFILE compared with RediSearch 2.10 itself: the same documents and queries in both, the
reply's layout (RESP2 lists, RESP3 maps) and the iterator tree's types, terms and counters
must agree where the two engines read the same postings; times are this engine's own. Also
its errors, redis-py's ft().profile(), and the vector strategy shown. FT.PROFILE AGGREGATE
too: its rows, layout, iterator tree and result processors (one per pipeline step) compared
with RediSearch's."""

import struct

import pytest
import redis
from redis.commands.search.query import Query

from anchor import Anchor

SCHEMA = ("FT.CREATE", "p", "PREFIX", 1, "p:", "SCHEMA", "txt", "TEXT", "t", "TAG",
          "n", "NUMERIC")
DOCS = {
    "p:1": {"txt": "Redis is an in-memory data store; the dogs love Redis modules", "t": "a",
            "n": 3},
    "p:2": {"txt": "hello dog", "t": "b", "n": 7},
    "p:3": {"txt": "help wanted", "t": "a", "n": 9},
}
QUERIES = ["redis", "redis dog", "redis | dog", "-redis", "hel*", "*", "@t:{a}", "@n:[1 5]",
           "dog @t:{b}"]


def load(r):
    r.execute_command(*SCHEMA)
    for k, v in DOCS.items():
        r.hset(k, mapping=v)


def shape(node):
    """An iterator tree (RESP2 list) as both engines build it: types, query types and terms.
    Counters differ by design below the root: RediSearch counts its reads (an intersection
    stops reading a child early), this engine the documents each clause matched; a NUMERIC
    term there names the range tree's node, here the query's range."""
    out, children, i = {}, [], 0
    while i < len(node):
        k = node[i]
        if k == "Child iterators":
            children = [shape(c) for c in node[i + 1:]]
            break
        if k == "Child iterator":
            children = [shape(node[i + 1])]
        elif k in ("Type", "Query type") or (k == "Term" and node[1] != "NUMERIC"):
            out[k] = node[i + 1]
        i += 2
    out["children"] = children
    return out


def profile(r, q, *extra):
    return r.execute_command("FT.PROFILE", "p", "SEARCH", "QUERY", q, "NOCONTENT", *extra)


def test_layout_and_iterators_are_redisearchs(server):
    ours = redis.Redis(port=server.port, decode_responses=True)
    load(ours)
    anchor = Anchor()
    try:
        theirs = anchor.client(decode_responses=True)
        load(theirs)
        for q in QUERIES:
            mine, t = profile(ours, q), profile(theirs, q)
            assert mine[0] == t[0], q
            assert [e[0] for e in mine[1]] == [e[0] for e in t[1]], q
            assert mine[1][3] == ["Warning"]
            it, t_it = mine[1][4][1], t[1][4][1]
            assert shape(it) == shape(t_it), q
            # The root counts the documents found, in both.
            assert it[it.index("Counter") + 1] == t_it[t_it.index("Counter") + 1], q
            procs = [p[1] for p in mine[1][5][1:]]
            t_procs = [p[1] for p in t[1][5][1:]]
            assert procs == t_procs, q
        # RESP3: the search reply's map with a `profile` map in it.
        r3 = redis.Redis(port=server.port, decode_responses=True, protocol=3)
        t3 = anchor.client(decode_responses=True, protocol=3)
        mine = r3.execute_command("FT.PROFILE", "p", "SEARCH", "QUERY", "redis dog")
        t = t3.execute_command("FT.PROFILE", "p", "SEARCH", "QUERY", "redis dog")
        assert sorted(mine) == sorted(t)
        assert list(mine["profile"]) == list(t["profile"])
        assert mine["profile"]["Warning"] == "None"
        assert isinstance(mine["profile"]["Total profile time"], float)
        top = mine["profile"]["Iterators profile"][0]
        assert top["Type"] == t["profile"]["Iterators profile"][0]["Type"] == "INTERSECT"
        t_top = t["profile"]["Iterators profile"][0]
        assert ([c["Type"] for c in top["Child iterators"]]
                == [c["Type"] for c in t_top["Child iterators"]] == ["UNION", "UNION"])
        assert mine["results"] == t["results"]
    finally:
        anchor.stop()


AGG_PIPELINES = [
    ["*", "LOAD", "1", "@n", "APPLY", "@n*2", "AS", "m", "FILTER", "@m>5", "GROUPBY", "1", "@t",
     "REDUCE", "COUNT", "0", "AS", "c", "SORTBY", "2", "@c", "DESC"],
    ["redis | dog", "GROUPBY", "1", "@t", "REDUCE", "SUM", "1", "@n", "AS", "s",
     "SORTBY", "2", "@s", "ASC"],
    ["*", "LOAD", "1", "@n", "SORTBY", "2", "@n", "ASC", "LIMIT", "0", "2"],
    ["@t:{a}", "LOAD", "2", "@txt", "@n", "APPLY", "upper(@txt)", "AS", "u", "LIMIT", "0", "5"],
    ["dog", "LOAD", "1", "@n", "FILTER", "@n>1 && @n<8", "APPLY", "floor(@n)", "AS", "f"],
]


def test_aggregate_profile_is_redisearchs(server):
    """The rows and the whole layout agree; result processors by type and order, except that
    RediSearch adds a `Loader` before a step that names a field not loaded yet (this engine
    loads what the pipeline names before its first step)."""
    ours = redis.Redis(port=server.port, decode_responses=True)
    load(ours)
    anchor = Anchor()
    try:
        theirs = anchor.client(decode_responses=True)
        load(theirs)
        for q in AGG_PIPELINES:
            mine = ours.execute_command("FT.PROFILE", "p", "AGGREGATE", "QUERY", *q)
            t = theirs.execute_command("FT.PROFILE", "p", "AGGREGATE", "QUERY", *q)
            assert mine[0] == t[0], q
            assert [e[0] for e in mine[1]] == [e[0] for e in t[1]], q
            it, t_it = mine[1][4][1], t[1][4][1]
            assert shape(it) == shape(t_it), q
            procs = [p[1] for p in mine[1][5][1:]]
            t_procs = [p[1] for p in t[1][5][1:]]
            lazy = [p for i, p in enumerate(t_procs) if p != "Loader" or "Loader" not in t_procs[:i]]
            assert procs == lazy, (q, procs, t_procs)
            assert len(procs) >= 3
            # The last step's counter: the rows the reply holds, in both.
            last, t_last = mine[1][5][-1], t[1][5][-1]
            assert last[last.index("Counter") + 1] == t_last[t_last.index("Counter") + 1], q
        r3 = redis.Redis(port=server.port, decode_responses=True, protocol=3)
        t3 = anchor.client(decode_responses=True, protocol=3)
        mine = r3.execute_command("FT.PROFILE", "p", "AGGREGATE", "QUERY", *AGG_PIPELINES[1])
        t = t3.execute_command("FT.PROFILE", "p", "AGGREGATE", "QUERY", *AGG_PIPELINES[1])
        assert sorted(mine) == sorted(t)
        assert list(mine["profile"]) == list(t["profile"])
        assert mine["results"] == t["results"]
        assert ([p["Type"] for p in mine["profile"]["Result processors profile"]]
                == [p["Type"] for p in t["profile"]["Result processors profile"]])
    finally:
        anchor.stop()


def test_knn_shows_the_strategy(server):
    r = redis.Redis(port=server.port)
    r.execute_command("FT.CREATE", "v", "PREFIX", 1, "v:", "SCHEMA", "t", "TAG", "e", "VECTOR",
                      "FLAT", 6, "TYPE", "FLOAT32", "DIM", 2, "DISTANCE_METRIC", "L2")
    for i in range(50):
        r.hset(f"v:{i}", mapping={"t": "a" if i < 5 else "b",
                                  "e": struct.pack("2f", i, i + 1)})
    blob = struct.pack("2f", 1, 2)
    reply = r.execute_command("FT.PROFILE", "v", "SEARCH", "QUERY", "@t:{a}=>[KNN 3 @e $b]",
                              "PARAMS", 2, "b", blob, "NOCONTENT")
    assert reply[0][0] == 3
    it = reply[1][4][1]
    d = dict(zip(it[0:-2:2], it[1:-2:2]))
    assert d[b"Type"] == b"VECTOR"
    assert d[b"Strategy"] == b"EXACT_SCAN" and d[b"Candidates"] == b"5"
    child = it[-1]
    assert child[:4] == [b"Type", b"TAG", b"Term", b"a"]
    procs = [p[1] for p in reply[1][5][1:]]
    assert procs == [b"Index", b"Metrics Applier", b"Sorter"]
    reply = r.execute_command("FT.PROFILE", "v", "SEARCH", "QUERY", "*=>[KNN 3 @e $b]",
                              "PARAMS", 2, "b", blob, "NOCONTENT")
    it = reply[1][4][1]
    assert b"VECTOR_INDEX" in it and b"Child iterator" not in it


def test_errors(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    load(r)
    for args, text in [
        (("p", "X", "QUERY", "*"), "No `SEARCH` or `AGGREGATE` provided"),
        (("p", "SEARCH", "LIMITED", "redis"), "The QUERY keyword is expected"),
        (("p", "SEARCH", "LIMITED", "QUERY"), "No query string provided"),
        (("nosuch", "SEARCH", "QUERY", "x"), "nosuch: no such index"),
        (("p", "AGGREGATE", "QUERY", "*", "GROUPBY", "1", "@nope"), "No such property `nope`"),
        (("p", "SEARCH", "QUERY", "@t:{a", ), "Syntax error at offset 3 near {"),
    ]:
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command("FT.PROFILE", *args)
        assert str(e.value) == text, args
    with pytest.raises(redis.ResponseError):
        r.execute_command("FT.PROFILE", "p", "SEARCH", "QUERY")


def test_redis_py_profile(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    load(r)
    res, info = r.ft("p").profile(Query("redis").return_field("txt"))
    assert res.total == 1 and res.docs[0].id == "p:1"
    details = info.info if hasattr(info, "info") else info
    assert "Iterators profile" in str(details)
    res, info = r.ft("p").profile(Query("dog"), limited=True)
    assert res.total == 2
