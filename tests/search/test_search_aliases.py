"""FT.ALIASADD / FT.ALIASUPDATE / FT.ALIASDEL: aliases stand for an index wherever its name
does, and behave as RediSearch 2.10's do, reply for reply (compared with RediSearch itself)."""

import time

import pytest
import redis

from anchor import Anchor

# Index names and aliases are separate namespaces; lookups try index names first; an alias
# must point at an index's own name; dropping an index drops its aliases.
STEPS = [
    ("FT.CREATE", "idx", "ON", "HASH", "PREFIX", 1, "d:", "SCHEMA", "t", "TAG"),
    ("HSET", "d:1", "t", "a"),
    ("FT.ALIASADD", "al", "idx"),
    ("FT.ALIASADD", "al", "idx"),
    ("FT.ALIASADD", "AL", "idx"),
    ("FT.SEARCH", "AL", "*"),
    ("FT.SEARCH", "al", "@t:{a}", "NOCONTENT"),
    ("FT.ALIASADD", "al2", "al"),
    ("FT.ALIASADD", "al3", "nosuch"),
    ("FT.ALIASUPDATE", "al", "nosuch"),
    ("FT.ALIASDEL", "nosuch"),
    ("FT.ALIASADD",),
    ("FT.ALIASADD", "a"),
    ("FT.ALIASADD", "a", "b", "c"),
    ("FT.ALIASDEL",),
    ("FT.ALIASUPDATE", "x"),
    ("FT.DROPINDEX", "al"),
    ("FT._LIST",),
    ("FT.SEARCH", "al", "*"),
    ("FT.ALIASDEL", "al"),
    ("FT.CREATE", "idx", "ON", "HASH", "PREFIX", 1, "d:", "SCHEMA", "t", "TAG"),
    ("FT.CREATE", "idx2", "ON", "HASH", "PREFIX", 1, "e:", "SCHEMA", "t", "TAG"),
    ("HSET", "e:1", "t", "b"),
    ("FT.ALIASADD", "al", "idx"),
    ("FT.ALIASUPDATE", "al", "idx2"),
    ("FT.SEARCH", "al", "*", "NOCONTENT"),
    ("FT.ALIASUPDATE", "al", "idx2"),
    ("FT.ALIASUPDATE", "new", "idx"),
    ("FT.SEARCH", "new", "*", "NOCONTENT"),
    ("FT.CREATE", "al", "ON", "HASH", "PREFIX", 1, "d:", "SCHEMA", "t", "TAG"),
    ("FT.CREATE", "al", "ON", "HASH", "SCHEMA", "t", "TAG"),
    ("FT.ALIASDEL", "al"),
    ("FT.ALIASADD", "idx", "al"),
    ("FT.SEARCH", "idx", "*", "NOCONTENT"),
    ("FT.ALIASADD", "x", "idx"),
    ("FT.DROPINDEX", "idx"),
    ("FT.ALIASDEL", "x"),
    ("FT.ALIASDEL", "new"),
    ("FT.DROPINDEX", "al"),
    ("FT.ALIASDEL", "idx"),
]


def wait_indexed(client, name):
    """RediSearch indexes existing keys in the background after FT.CREATE: wait for it."""
    for _ in range(500):
        info = client.execute_command("FT.INFO", name)
        fields = dict(zip(info[::2], info[1::2]))
        if int(fields[b"indexing"]) == 0:
            return
        time.sleep(0.01)
    raise AssertionError(f"{name} still indexing")


def run(client, steps):
    out = []
    for step in steps:
        try:
            reply = client.execute_command(*step)
            if step[0] == "FT.CREATE" and reply == b"OK":
                wait_indexed(client, step[1])
            if step[0] == "FT._LIST":
                reply = sorted(reply)
            out.append(reply)
        except redis.ResponseError as e:
            out.append(("error", str(e)))
    return out


def test_aliases_answer_as_redisearch_does(server):
    ours = run(redis.Redis(port=server.port), STEPS)
    assert ours[2] == b"OK" and ours[3] == ("error", "Alias already exists")
    assert ours[5][0] == 1 and ours[6] == [1, b"d:1"]
    assert ours[7] == ("error", "Unknown index name (or name is an alias itself)")
    assert ours[10] == ("error", "Alias does not exist")
    assert ours[11] == ("error", "wrong number of arguments for 'FT.ALIASADD' command")
    assert ours[16:19] == [b"OK", [], ("error", "al: no such index")]
    assert ours[25] == [1, b"e:1"] and ours[28] == [1, b"d:1"]
    assert ours[31] == ("error", "Alias does not belong to provided spec")
    anchor = Anchor()
    try:
        theirs = run(anchor.client(), STEPS)
    finally:
        anchor.stop()
    for step, a, b in zip(STEPS, ours, theirs):
        assert a == b, f"{step}: ours {a!r}, RediSearch {b!r}"


def test_aliases_survive_reload_and_go_with_flushall(server):
    r = redis.Redis(port=server.port)
    r.execute_command("FT.CREATE", "idx", "ON", "HASH", "PREFIX", 1, "d:", "SCHEMA", "t", "TAG")
    r.hset("d:1", mapping={"t": "a"})
    r.execute_command("FT.ALIASADD", "al", "idx")
    r.execute_command("FT.ALIASADD", "al2", "idx")
    r.execute_command("FT.ALIASDEL", "al2")
    r.execute_command("DEBUG", "RELOAD")
    assert r.execute_command("FT.SEARCH", "al", "*", "NOCONTENT") == [1, b"d:1"]
    assert r.execute_command("FT.INFO", "al")[1] == b"idx"
    with pytest.raises(redis.ResponseError, match="no such index"):
        r.execute_command("FT.SEARCH", "al2", "*")
    # FLUSHALL drops indexes, and their aliases with them.
    r.flushall()
    with pytest.raises(redis.ResponseError, match="Alias does not exist"):
        r.execute_command("FT.ALIASDEL", "al")
