"""Text relevance compared with RediSearch 2.10 itself: the same generated documents in both,
the same queries under each scorer, and the answers (order, totals and WITHSCORES numbers)
must agree. Also stemming (a query term finds its other forms), VERBATIM, and SCORER errors."""

import math
import random

import redis

from anchor import Anchor

SCHEMA = ("FT.CREATE", "s", "ON", "HASH", "PREFIX", 1, "d:", "SCHEMA",
          "title", "TEXT", "WEIGHT", 2, "body", "TEXT", "code", "TEXT", "NOSTEM",
          "tag", "TAG", "n", "NUMERIC")

WORDS = ["run", "running", "runs", "runner", "park", "parks", "dog", "dogs", "cat", "cats",
         "quick", "quickly", "brown", "fox", "jumps", "jumping", "lazy", "river", "rivers",
         "city", "cities", "light", "lights", "bright", "day", "days", "night", "the", "of",
         "and", "a", "to", "in"]


def documents(n, seed):
    rng = random.Random(seed)
    docs = {}
    for i in range(n):
        docs[f"d:{i}"] = {
            "title": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))),
            "body": " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))),
            "code": " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 3))),
            "tag": rng.choice(["red", "green", "blue"]),
            "n": rng.randint(0, 50),
        }
    return docs


# Queries whose result trees RediSearch scores the same way whatever order its iterators
# read postings in (see the README on where RediSearch's unions stop early).
QUERIES = ["running", "dog", "cats", "city", "lights", "quick", "river", "bright", "fox",
           "@title:park", "@body:day", "@code:running", "@code:run", "dog | cat",
           "fox | night | river", "@tag:{red}", "@tag:{red|blue}", "@n:[10 20]", "*",
           "-dog", "bright -night", "jump*", "riv*", "quick fox", "dog park",
           "@title:running @body:river", "lazy @tag:{red}", "@n:[0 10] cat"]

# Intersections of stem-expanded terms: RediSearch's union iterator, when the intersection
# skips it to a document, stops at the first form of the term that document has, so its score
# there can leave out other forms (`dogs` when `dog` matched first); this engine counts every
# form. The same documents match; scores and order are compared under VERBATIM only.
SETS_ONLY = {"quick fox", "dog park", "@title:running @body:river", "lazy @tag:{red}",
             "@n:[0 10] cat"}

SCORERS = ["TFIDF", "TFIDF.DOCNORM", "BM25", "BM25STD", "DISMAX", "DOCSCORE"]


def load(r, docs):
    r.execute_command(*SCHEMA)
    for key, fields in docs.items():
        r.hset(key, mapping=fields)


def answers(r):
    out = {}
    for q in QUERIES:
        for scorer in SCORERS:
            for extra in ([], ["VERBATIM"]):
                args = ["FT.SEARCH", "s", q, "WITHSCORES", "NOCONTENT", "SCORER", scorer,
                        "LIMIT", 0, 1000, *extra]
                reply = r.execute_command(*args)
                hits = [(reply[i].decode(), float(reply[i + 1]))
                        for i in range(1, len(reply), 2)]
                out[(q, scorer, tuple(extra))] = (reply[0], hits)
    return out


def same(a, b):
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return str(a) == str(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def test_scores_are_redisearchs(server):
    docs = documents(150, 11)
    ours = redis.Redis(port=server.port)
    load(ours, docs)
    mine = answers(ours)
    anchor = Anchor()
    try:
        theirs_client = anchor.client()
        load(theirs_client, docs)
        theirs = answers(theirs_client)
    finally:
        anchor.stop()
    bad = []
    for key, (total, hits) in mine.items():
        t_total, t_hits = theirs[key]
        if total != t_total:
            bad.append(f"{key}: total {total} vs RediSearch {t_total}")
            continue
        keys, t_keys = [h[0] for h in hits], [h[0] for h in t_hits]
        if key[0] in SETS_ONLY and not key[2]:
            if sorted(keys) != sorted(t_keys):
                bad.append(f"{key}: other documents than RediSearch's")
            continue
        scores_ok = all(same(a[1], b[1]) for a, b in zip(hits, t_hits))
        if keys != t_keys or not scores_ok:
            first = next((i for i, (a, b) in enumerate(zip(hits, t_hits))
                          if a[0] != b[0] or not same(a[1], b[1])), None)
            bad.append(f"{key}: first difference at {first}: ours {hits[first:first + 3]} "
                       f"vs RediSearch {t_hits[first:first + 3]}")
    assert not bad, f"{len(bad)} of {len(mine)} answers differ:\n" + "\n".join(bad[:15])


def test_stemming_and_verbatim(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "st", "PREFIX", 1, "x:", "SCHEMA", "t", "TEXT",
                      "raw", "TEXT", "NOSTEM")
    r.hset("x:1", mapping={"t": "the dogs were running", "raw": "cats"})
    r.hset("x:2", mapping={"t": "a dog runs", "raw": "cat"})
    r.hset("x:3", mapping={"t": "nothing here", "raw": "running"})
    search = lambda *q: sorted(r.execute_command("FT.SEARCH", "st", *q, "NOCONTENT")[1:])
    assert search("dog") == ["x:1", "x:2"]
    assert search("dogs") == ["x:1", "x:2"]
    assert search("run") == ["x:1", "x:2"]
    assert search("dogs", "VERBATIM") == ["x:1"]
    # NOSTEM fields index no stems: `cat` does not find `cats` there.
    assert search("@raw:cat") == ["x:2"]
    assert search("@raw:running") == ["x:3"]
    assert search("@raw:run") == []


def test_scorer_errors_and_reindexing(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "e", "PREFIX", 1, "y:", "SCHEMA", "t", "TEXT")
    r.hset("y:1", "t", "hello world")
    for name, text in [("nope", "No such scorer nope"), ("bm25", "No such scorer bm25")]:
        try:
            r.execute_command("FT.SEARCH", "e", "hello", "SCORER", name)
            raise AssertionError(f"SCORER {name} accepted")
        except redis.ResponseError as e:
            assert str(e) == text
    try:
        r.execute_command("FT.SEARCH", "e", "hello", "SCORER", "HAMMING")
        raise AssertionError("SCORER HAMMING accepted")
    except redis.ResponseError as e:
        assert "payloads" in str(e)
    # A document's terms follow it: changed text leaves the old terms' postings.
    r.hset("y:1", "t", "goodbye moon")
    assert r.execute_command("FT.SEARCH", "e", "hello", "NOCONTENT") == [0]
    assert r.execute_command("FT.SEARCH", "e", "moon", "NOCONTENT") == [1, "y:1"]
    r.delete("y:1")
    assert r.execute_command("FT.SEARCH", "e", "moon", "NOCONTENT") == [0]
