"""DIALECT 1 (RediSearch's default) against RediSearch 2.10: `@f:` reaching over the run of
plain terms after it, `-x y` and `~x y` taking the rest of their group, and no parameters, KNN
or VECTOR_RANGE there. Also FT.CONFIG for the settings this engine honours."""

import redis

from anchor import Anchor
from test_search_scoring import SCHEMA, documents, load

QUERIES = ["@title:running fast", "@title:run|dog park", "@title:run -dog park",
           "hello @title:run ~dog park", "-dog cat | city", "@title:dog | cat -night",
           "@title:dog cat @body:river light", "@title:dog (cat river) day",
           "(@title:dog cat) river", "@title:dog @tag:{red} cat", "@title:dog @n:[1 20] cat",
           '@title:dog "quick fox" day', "dog @title:cat|city light", "@body:jump* light",
           "@title:%dgo% cat", "@code:run fox"]
ERRORS = [("*=>[KNN 1 @v $b]", ["PARAMS", 2, "b", "aaaaaaaa"]),
          ("@title:$x", ["PARAMS", 2, "x", "dog"])]


def answers(r):
    out = []
    for q in QUERIES:
        for d in (1, 2):
            reply = r.execute_command("FT.SEARCH", "s", q, "NOCONTENT", "LIMIT", 0, 1000,
                                      "DIALECT", d)
            out.append((q, d, reply[0], sorted(reply[1:])))
    for q, extra in ERRORS:
        try:
            r.execute_command("FT.SEARCH", "s", q, *extra, "DIALECT", 1)
            out.append((q, "accepted"))
        except redis.ResponseError as e:
            out.append((q, "error", str(e).startswith("Syntax error")))
    for args in (("GET", "DEFAULT_DIALECT"), ("HELP", "MINSTEMLEN"), ("GET", "NOPE"),
                 ("SET", "DEFAULT_DIALECT", "0"), ("SET", "DEFAULT_DIALECT", "5"),
                 ("SET", "MINSTEMLEN", "1"), ("SET", "MINSTEMLEN", "x"), ("SET", "NOPE", "1"),
                 ("FOO", "x")):
        try:
            out.append(("config", args, r.execute_command("FT.CONFIG", *args)))
        except redis.ResponseError as e:
            out.append(("config", args, "error", str(e)))
    return out


def test_dialect_1_as_redisearch(server):
    docs = documents(150, 5)
    ours = redis.Redis(port=server.port)
    load(ours, docs)
    # RediSearch's default dialect is 1; this module's is 2 until told otherwise.
    assert ours.execute_command("FT.CONFIG", "GET", "DEFAULT_DIALECT") == [[b"DEFAULT_DIALECT",
                                                                            b"2"]]
    assert ours.execute_command("FT.CONFIG", "SET", "DEFAULT_DIALECT", "1") == b"OK"
    mine = answers(ours)
    anchor = Anchor()
    try:
        theirs_client = anchor.client()
        load(theirs_client, docs)
        theirs = answers(theirs_client)
    finally:
        anchor.stop()
    bad = [f"ours {a!r}\n  RediSearch {b!r}" for a, b in zip(mine, theirs) if a != b]
    assert not bad, "\n".join(bad)
    # The setting applies: without DIALECT, dialect 1's scoping.
    one = ours.execute_command("FT.SEARCH", "s", "@title:run|dog park", "NOCONTENT", "LIMIT", 0,
                               1000)
    assert sorted(one[1:]) == [x for x in mine if x[:2] == ("@title:run|dog park", 1)][0][3]
