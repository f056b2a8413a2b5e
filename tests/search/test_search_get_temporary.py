"""FT.GET / FT.MGET compared with RediSearch 2.10 (RESP2 and RESP3, documents in and out of
the index, errors); TEMPORARY indexes dropped after their idle seconds, kept alive by use,
not saved; FT.DEBUG TTL as redis-py's tests use it; LANGUAGE chinese refused."""

import time

import pytest
import redis
from redis.commands.search.field import TextField

from anchor import Anchor

GETS = [("FT.GET", "g", "g:1"), ("FT.GET", "g", "nosuch"), ("FT.GET", "g", "other"),
        ("FT.GET", "g", "str"), ("FT.GET", "nosuch", "g:1"), ("FT.GET", "g"),
        ("FT.GET", "g", "a", "b"), ("FT.MGET", "g", "g:1", "nosuch", "other", "str", "g:2"),
        ("FT.MGET", "nosuch", "g:1"), ("FT.MGET", "g"),
        ("FT.CREATE", "l1", "LANGUAGE", "klingon", "SCHEMA", "a", "TEXT"),
        ("FT.SEARCH", "g", "x", "LANGUAGE", "klingon"),
        ("FT.SEARCH", "g", "hello", "LANGUAGE", "german", "NOCONTENT"),
        ("FT.CREATE", "t0", "TEMPORARY", "x", "SCHEMA", "a", "TEXT"),
        ("FT.DEBUG", "TTL", "g"), ("FT.DEBUG", "TTL", "nosuch"), ("FT.DEBUG", "NOPE", "x")]


def load(r):
    r.execute_command("FT.CREATE", "g", "PREFIX", 1, "g:", "SCHEMA", "x", "TEXT")
    r.hset("g:1", mapping={"x": "hello", "y": "z"})
    r.hset("g:2", mapping={"x": "bye"})
    r.hset("other", "x", "1")
    r.set("str", "v")


def run(r):
    out = []
    for args in GETS:
        try:
            reply = r.execute_command(*args)
            if isinstance(reply, list):
                # Field order follows each server's hash: compare documents as maps.
                def norm(d):
                    return None if d is None else sorted(zip(d[0::2], d[1::2]))
                reply = ([norm(d) for d in reply] if args[0] == "FT.MGET"
                         else norm(reply) if args[0] == "FT.GET" else reply)
        except redis.ResponseError as e:
            reply = f"error: {e}"
        out.append((args, reply))
    return out


def test_get_mget_and_errors_are_redisearchs(server):
    anchor = Anchor()
    try:
        for protocol in (2, 3):
            ours = redis.Redis(port=server.port, decode_responses=True, protocol=protocol)
            theirs = anchor.client(decode_responses=True, protocol=protocol)
            for r in (ours, theirs):
                r.flushall()
                load(r)
            mine, t = run(ours), run(theirs)
            bad = [(a, b) for a, b in zip(mine, t) if a != b]
            assert not bad, bad
    finally:
        anchor.stop()


def test_redis_py_get(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    load(r)
    docs = r.ft("g").get("g:1", "nosuch")
    assert docs[0] == ["x", "hello", "y", "z"] and docs[1] is None


def test_temporary_index_expires_when_idle(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "tmp", "TEMPORARY", 1, "PREFIX", 1, "t:", "SCHEMA",
                      "x", "TEXT")
    r.execute_command("FT.CREATE", "kept", "TEMPORARY", 1, "PREFIX", 1, "k:", "SCHEMA",
                      "x", "TEXT")
    r.hset("t:1", "x", "hello")
    # Used every 0.3 s, `kept` outlives `tmp`.
    deadline = time.time() + 2.5
    while time.time() < deadline:
        r.execute_command("FT.SEARCH", "kept", "*")
        time.sleep(0.3)
    names = r.execute_command("FT._LIST")
    assert "kept" in names and "tmp" not in names
    # Its documents stay (the index goes, not the keys).
    assert r.hget("t:1", "x") == "hello"
    with pytest.raises(redis.ResponseError, match="no such index"):
        r.execute_command("FT.SEARCH", "tmp", "*")
    # TEMPORARY 0 (RediSearch takes it): gone at once.
    r.execute_command("FT.CREATE", "zero", "TEMPORARY", 0, "SCHEMA", "x", "TEXT")
    time.sleep(0.2)
    assert "zero" not in r.execute_command("FT._LIST")


def test_temporary_index_is_not_saved(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "tmp", "TEMPORARY", 100, "SCHEMA", "x", "TEXT")
    r.execute_command("FT.CREATE", "perm", "SCHEMA", "x", "TEXT")
    r.execute_command("DEBUG", "RELOAD")
    assert r.execute_command("FT._LIST") == ["perm"]


def test_redis_py_expire_with_debug_ttl(server):
    # redis-py's own testExpire, with HSET where it sends the removed FT.ADD.
    r = redis.Redis(port=server.port, decode_responses=True)
    r.ft().create_index((TextField("txt", sortable=True),), temporary=4)
    ttl = r.execute_command("ft.debug", "TTL", "idx")
    assert ttl > 2
    while ttl > 2:
        ttl = r.execute_command("ft.debug", "TTL", "idx")
        time.sleep(0.01)
    r.hset("doc", mapping={"txt": "foo bar", "text": "this is a simple test"})
    ttl = r.execute_command("ft.debug", "TTL", "idx")
    assert ttl > 2
    with pytest.raises(redis.ResponseError, match="^Index is not temporary$"):
        r.execute_command("FT.CREATE", "p", "SCHEMA", "x", "TEXT")
        r.execute_command("FT.DEBUG", "TTL", "p")


def test_chinese_is_refused(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    text = "LANGUAGE chinese is not supported: this module has no Chinese tokenizer"
    with pytest.raises(redis.ResponseError, match=f"^{text}$"):
        r.execute_command("FT.CREATE", "c", "LANGUAGE", "chinese", "SCHEMA", "x", "TEXT")
    assert r.execute_command("FT._LIST") == []
    r.execute_command("FT.CREATE", "c", "SCHEMA", "x", "TEXT")
    with pytest.raises(redis.ResponseError, match=f"^{text}$"):
        r.execute_command("FT.SEARCH", "c", "x", "LANGUAGE", "Chinese")
