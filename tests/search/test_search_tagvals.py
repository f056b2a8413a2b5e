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
