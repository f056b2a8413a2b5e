"""STOPWORDS at FT.CREATE (a custom list, or 0 for none) and the order of field options,
compared with RediSearch 2.10: the words a query drops, what a document indexes, phrases and
scores over the result."""

import redis

from anchor import Anchor

DOCS = {"w:1": "the quick brown fox", "w:2": "foo the bar baz", "w:3": "to be or not to be",
        "w:4": "baz foo qux the end"}
QUERIES = ["the", "foo", "baz", '"foo the bar"', '"the bar"', "be", "not", "the end", "qux"]
SCHEMAS = [("dflt",), ("custom", "STOPWORDS", 2, "foo", "bar"), ("none", "STOPWORDS", 0)]
FIELD_ORDERS = ["a TEXT SORTABLE NOSTEM", "a TEXT NOSTEM SORTABLE", "a TAG SORTABLE CASESENSITIVE",
                "a TEXT SORTABLE WEIGHT 2", "a TEXT INDEXMISSING SORTABLE",
                "a TAG SORTABLE INDEXEMPTY", "a TEXT NOINDEX NOSTEM", "a TEXT SORTABLE UNF NOINDEX"]


def answers(r):
    out = []
    for name, *opts in SCHEMAS:
        r.execute_command("FT.CREATE", name, "PREFIX", 1, "w:", *opts, "SCHEMA", "t", "TEXT")
    for k, v in DOCS.items():
        r.hset(k, "t", v)
    for name, *_ in SCHEMAS:
        for q in QUERIES:
            reply = r.execute_command("FT.SEARCH", name, q, "WITHSCORES", "NOCONTENT", "DIALECT", 2)
            out.append((name, q, reply[0], [(reply[i], float(reply[i + 1]))
                                            for i in range(1, len(reply), 2)]))
    for i, spec in enumerate(FIELD_ORDERS):
        try:
            out.append((spec, r.execute_command("FT.CREATE", f"o{i}", "SCHEMA", *spec.split())))
        except redis.ResponseError as e:
            out.append((spec, "error", str(e)))
    return out


def test_stopwords_as_redisearch(server):
    mine = answers(redis.Redis(port=server.port))
    anchor = Anchor()
    try:
        theirs = answers(anchor.client())
    finally:
        anchor.stop()
    bad = [f"ours {a!r}\n  RediSearch {b!r}" for a, b in zip(mine, theirs) if a != b]
    assert not bad, "\n".join(bad)
    assert ("none", "the", 3) == mine[len(QUERIES) * 2][:3]
