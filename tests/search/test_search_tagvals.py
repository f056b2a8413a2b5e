"""FT.TAGVALS compared with RediSearch 2.10: values as indexed (lower-cased unless
CASESENSITIVE, split on the separator), in byte order, RESP2 and RESP3, and the errors."""

import redis

from anchor import Anchor

SCHEMA = ("FT.CREATE", "tv", "ON", "HASH", "PREFIX", 1, "t:", "SCHEMA", "tag", "TAG",
          "cs", "TAG", "CASESENSITIVE", "SEPARATOR", "|", "n", "NUMERIC")
DOCS = {"t:1": {"tag": "Red, blue ", "cs": "Alpha|beta", "n": 1},
        "t:2": {"tag": "green,red", "cs": "alpha|Gamma ", "n": 2},
        "t:3": {"n": 3}}


def answers(port):
    out = []
    for proto in (2, 3):
        r = redis.Redis(port=port, protocol=proto)
        for args in (("tv", "tag"), ("tv", "cs"), ("tv", "n"), ("tv", "nosuch"), ("nosuch", "tag")):
            try:
                reply = r.execute_command("FT.TAGVALS", *args)
                out.append((proto, args, sorted(reply) if isinstance(reply, set) else reply))
            except redis.ResponseError as e:
                out.append((proto, args, "error", str(e)))
    return out


def load(r):
    r.execute_command(*SCHEMA)
    for k, v in DOCS.items():
        r.hset(k, mapping=v)


def test_tagvals_as_redisearch(server):
    load(redis.Redis(port=server.port))
    mine = answers(server.port)
    assert mine[0] == (2, ("tv", "tag"), [b"blue", b"green", b"red"])
    assert mine[1] == (2, ("tv", "cs"), [b"Alpha", b"Gamma", b"alpha", b"beta"])
    anchor = Anchor()
    try:
        load(anchor.client())
        theirs = answers(anchor.port)
    finally:
        anchor.stop()
    assert mine == theirs
    # Values leave with the last document holding them.
    r = redis.Redis(port=server.port)
    r.delete("t:2")
    assert r.execute_command("FT.TAGVALS", "tv", "tag") == [b"blue", b"red"]


INFO_SCHEMA = ("FT.CREATE", "fi", "ON", "HASH", "PREFIX", 1, "fi:", "SCHEMA",
               "t", "TEXT", "NOSTEM", "SORTABLE", "UNF", "w", "TEXT", "WEIGHT", 2.5,
               "g", "TAG", "CASESENSITIVE", "WITHSUFFIXTRIE", "INDEXMISSING",
               "n", "NUMERIC", "SORTABLE", "NOINDEX", "x", "GEO",
               "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 2, "DISTANCE_METRIC", "L2")


def info_attributes(port):
    out = []
    for proto in (2, 3):
        r = redis.Redis(port=port, protocol=proto)
        info = r.execute_command("FT.INFO", "fi")
        out.append(info[b"attributes"] if isinstance(info, dict) else info[7])
    return out


def test_info_attributes_as_redisearch(server):
    redis.Redis(port=server.port).execute_command(*INFO_SCHEMA)
    mine = info_attributes(server.port)
    anchor = Anchor()
    try:
        anchor.client().execute_command(*INFO_SCHEMA)
        theirs = info_attributes(anchor.port)
    finally:
        anchor.stop()
    assert mine == theirs, f"ours {mine!r}\nRediSearch {theirs!r}"
    assert mine[1][0][b"flags"] == [b"SORTABLE", b"UNF", b"NOSTEM"]
