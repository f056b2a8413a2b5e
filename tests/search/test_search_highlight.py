"""HIGHLIGHT and SUMMARIZE compared with RediSearch 2.10 itself: the same generated documents
in both, the same queries with each option combination, and every shown value must be the
same bytes. Also their errors, redis-py's Query.highlight()/summarize(), and hostile values."""

import random

import pytest
import redis
from redis.commands.search.query import Query

from anchor import Anchor

SCHEMA = ("FT.CREATE", "h", "ON", "HASH", "PREFIX", 1, "d:", "SCHEMA",
          "title", "TEXT", "body", "TEXT", "code", "TEXT", "NOSTEM", "tag", "TAG", "n", "NUMERIC")

WORDS = ["run", "running", "runs", "runner", "park", "parks", "dog", "dogs", "cat", "cats",
         "quick", "quickly", "brown", "fox", "jumps", "jumping", "lazy", "river", "rivers",
         "city", "cities", "light", "lights", "bright", "day", "days", "night", "the", "of",
         "and", "a", "to", "in", "Dogs", "RUNNING"]
# No newline: RediSearch's tokenizer does not split on it (only on space and tab), this
# engine's does; that difference is the tokenizer's, not highlighting's.
PUNCT = [" ", " ", " ", " ", ", ", ". ", "  ", " - ", "; ", "\t", "!"]


def sentence(rng, lo, hi):
    n = rng.randint(lo, hi)
    out = ""
    for i in range(n):
        out += rng.choice(WORDS)
        if i + 1 < n:
            out += rng.choice(PUNCT)
    return out


def documents(n, seed):
    rng = random.Random(seed)
    return {
        f"d:{i}": {
            "title": sentence(rng, 1, 6),
            "body": sentence(rng, 5, 80),
            "code": sentence(rng, 0, 4),
            "tag": rng.choice(["red", "green,blue", "blue"]),
            "n": rng.randint(0, 50),
        }
        for i in range(n)
    }


QUERIES = ["dog", "running", "@title:dog", "@body:cats", "dog | cat", "quick fox", "riv*",
           "run*", "@code:running", "bright -night", "*", "lights @n:[0 25]", "@tag:{red} park",
           "%rivr%", "dogs | running | lights", "night day"]
# Not `*un*` / `*ing`: RediSearch finds infix and suffix forms through its suffix trie, in an
# order other than the dictionary's, and highlights the form it met first (see the README).

OPTIONS = [
    ["HIGHLIGHT"],
    ["HIGHLIGHT", "FIELDS", 1, "body"],
    ["HIGHLIGHT", "TAGS", "[", "]"],
    ["SUMMARIZE"],
    ["SUMMARIZE", "FRAGS", 1, "LEN", 5],
    ["SUMMARIZE", "FIELDS", 2, "body", "tag", "LEN", 0, "SEPARATOR", " | "],
    ["SUMMARIZE", "FRAGS", 2, "LEN", 8, "HIGHLIGHT"],
    ["SUMMARIZE", "FIELDS", 1, "body", "FRAGS", 1, "HIGHLIGHT", "TAGS", "<", ">"],
    ["HIGHLIGHT", "SUMMARIZE", "FIELDS", 1, "title", "RETURN", 2, "title", "body"],
    ["SUMMARIZE", "LEN", 200, "RETURN", 1, "body"],
    ["SUMMARIZE", "FRAGS", 1, "LEN", 3],
    ["SUMMARIZE", "FRAGS", 2, "LEN", 2, "VERBATIM"],
    ["SUMMARIZE", "FRAGS", 1, "LEN", 12, "HIGHLIGHT", "FIELDS", 1, "title"],
]


def load(r, docs):
    r.execute_command(*SCHEMA)
    for key, fields in docs.items():
        r.hset(key, mapping=fields)


def answers(r):
    out = {}
    for q in QUERIES:
        for opts in OPTIONS:
            args = ["FT.SEARCH", "h", q, *opts, "LIMIT", 0, 200]
            try:
                reply = r.execute_command(*args)
            except redis.ResponseError as e:
                out[(q, str(opts))] = ("error", str(e))
                continue
            docs = {}
            for i in range(1, len(reply), 2):
                fields = reply[i + 1]
                docs[reply[i]] = [(fields[j], fields[j + 1]) for j in range(0, len(fields), 2)]
            out[(q, str(opts))] = (reply[0], docs)
    return out


def test_highlight_and_summarize_are_redisearchs(server):
    ours = redis.Redis(port=server.port)
    mine, theirs = {}, {}
    anchor = Anchor()
    try:
        theirs_client = anchor.client()
        for seed in (5, 6):
            docs = documents(120, seed)
            for r in (ours, theirs_client):
                r.flushall()
                load(r, docs)
            mine.update({(seed, *k): v for k, v in answers(ours).items()})
            theirs.update({(seed, *k): v for k, v in answers(theirs_client).items()})
    finally:
        anchor.stop()
    bad = []
    compared = 0
    for key, (total, got) in mine.items():
        t_total, t_got = theirs[key]
        if total != t_total:
            bad.append(f"{key}: {total!r} vs RediSearch {t_total!r}")
            continue
        if total == "error":
            continue
        for doc, fields in got.items():
            compared += 1
            # Field order without RETURN follows each server's hash; compare as maps
            # where no FIELDS list sets the order.
            t_fields = t_got.get(doc)
            if t_fields is None:
                bad.append(f"{key} {doc}: not in RediSearch's page")
            elif dict(fields) != dict(t_fields):
                diff = [(k, v, dict(t_fields).get(k)) for k, v in fields
                        if dict(t_fields).get(k) != v]
                bad.append(f"{key} {doc}: {diff[:2]}")
    assert compared > 2000
    assert not bad, f"{len(bad)} differ:\n" + "\n".join(bad[:12])


def test_fields_listed_come_first(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "o", "PREFIX", 1, "o:", "SCHEMA", "title", "TEXT",
                      "body", "TEXT", "n", "NUMERIC")
    r.hset("o:1", mapping={"title": "the dogs of war", "body": "a dog runs", "n": 5})
    reply = r.execute_command("FT.SEARCH", "o", "dog", "SUMMARIZE", "FIELDS", 1, "body",
                              "FRAGS", 1, "LEN", 3, "HIGHLIGHT", "TAGS", "[", "]")
    # RediSearch's context stops at the separator before a word it cannot fit.
    assert reply[2][:2] == ["body", "[dog] ... "]
    assert reply[2][2:4] == ["title", "the dogs of war"]
    # RETURN limits what is shown, even what FIELDS names.
    reply = r.execute_command("FT.SEARCH", "o", "dog", "RETURN", 1, "n",
                              "HIGHLIGHT", "FIELDS", 1, "title")
    assert reply[2] == ["n", "5"]


def test_errors(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "e", "PREFIX", 1, "e:", "SCHEMA", "t", "TEXT")
    r.hset("e:1", "t", "hello world")
    for opts, text in [
        (["HIGHLIGHT", "TAGS", "a"], "Bad arguments for HIGHLIGHT"),
        (["HIGHLIGHT", "FIELDS", "x"], "Bad arguments for HIGHLIGHT"),
        (["SUMMARIZE", "FIELDS", 3, "a"], "Bad arguments for SUMMARIZE"),
        (["SUMMARIZE", "LEN", -1], "Bad arguments for SUMMARIZE"),
        (["SUMMARIZE", "LEN", 4294967296], "Bad arguments for SUMMARIZE"),
        (["SUMMARIZE", "FRAGS", "x"], "Bad arguments for SUMMARIZE"),
        (["SUMMARIZE", "SEPARATOR"], "Bad arguments for SUMMARIZE"),
        (["HIGHLIGHT", "FIELDS", 1, "nosuch"], "No such property `nosuch`"),
    ]:
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command("FT.SEARCH", "e", "hello", *opts)
        assert str(e.value) == text, opts


def test_hostile_values_are_bounded(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "x", "PREFIX", 1, "x:", "SCHEMA", "t", "TEXT")
    r.hset("x:1", "t", "dog " * 2000)
    big = "<" * (1 << 20)
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("FT.SEARCH", "x", "dog", "HIGHLIGHT", "TAGS", big, ">")
    assert "64 MB" in str(e.value)
    # LEN and FRAGS at their largest (RediSearch 2.10 hangs on this LEN) answer at once.
    reply = r.execute_command("FT.SEARCH", "x", "dog", "SUMMARIZE", "LEN", 4294967295,
                              "FRAGS", 4294967295, "SEPARATOR", "|")
    assert reply[2][1].startswith("dog dog") and reply[2][1].endswith("|")
    reply = r.execute_command("FT.SEARCH", "x", "dog", "SUMMARIZE", "LEN", 0, "FRAGS", 0)
    assert reply[2] == ["t", ""]
    assert r.ping()


def test_redis_py_query_highlight_summarize(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "p", "PREFIX", 1, "p:", "SCHEMA", "txt", "TEXT")
    r.hset("p:1", "txt", "Redis is an in-memory data store; the dogs love Redis modules")
    q = Query("redis").highlight(tags=["<em>", "</em>"]).summarize(context_len=3, num_frags=1)
    res = r.ft("p").search(q)
    assert res.total == 1
    assert res.docs[0].txt == ("<em>Redis</em> is an in-memory data store; the dogs love "
                               "<em>Redis</em>... ")
    res = r.ft("p").search(Query("dog").highlight())
    assert res.docs[0].txt == ("Redis is an in-memory data store; the <b>dogs</b> love Redis "
                               "modules")
