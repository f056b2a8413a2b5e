"""FT.ALTER SCHEMA ADD, compared with RediSearch 2.10: existing documents get the new fields
by a background scan (or not, with SKIPINITIALSCAN), the index answers meanwhile, aliases
work, errors match, and the altered definition survives a reload and reaches a replica."""

import time

import numpy as np
import redis
from redis.commands.search.field import NumericField, TagField

from anchor import Anchor
from search_server import RedisServer


def wait_indexed(r, name):
    for _ in range(500):
        info = r.execute_command("FT.INFO", name)
        fields = {k.encode() if isinstance(k, str) else k: v
                  for k, v in zip(info[::2], info[1::2])}
        if int(fields[b"indexing"]) == 0:
            return fields
        time.sleep(0.01)
    raise AssertionError("the scan did not finish")


def scenario(r):
    out = []
    r.execute_command("FT.CREATE", "a", "PREFIX", 1, "a:", "SCHEMA", "t", "TEXT")
    for i in range(20):
        r.hset(f"a:{i}", mapping={"t": f"doc number {i}", "tag": "even" if i % 2 else "odd",
                                  "n": i, "v": np.array([i, 1], dtype=np.float32).tobytes()})
    wait_indexed(r, "a")
    r.execute_command("FT.ALIASADD", "al", "a")
    for args in (("a", "SCHEMA", "ADD", "t", "TEXT"), ("a", "SCHEMA", "ADD", "x"),
                 ("a", "SCHEMA", "FOO", "x", "TEXT"), ("a", "ADD", "x", "TEXT"),
                 ("nosuch", "SCHEMA", "ADD", "x", "TEXT"),
                 ("a", "SCHEMA", "ADD", "e", "TEXT", "e", "TAG"),
                 ("a", "SCHEMA", "ADD", "f", "TEXT", "SORTABLE", "NOSTEM")):
        try:
            out.append((args, r.execute_command("FT.ALTER", *args)))
        except redis.ResponseError as e:
            out.append((args, "error", str(e)))
    out.append(r.execute_command("FT.ALTER", "al", "SCHEMA", "ADD", "tag", "TAG", "n", "NUMERIC",
                                 "SORTABLE"))
    # The next ALTER skips its scan: let this one finish first, so that which documents have
    # the vector does not depend on timing (a running scan indexes every field it knows).
    wait_indexed(r, "a")
    out.append(r.execute_command("FT.ALTER", "a", "SKIPINITIALSCAN", "SCHEMA", "ADD", "v",
                                 "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 2,
                                 "DISTANCE_METRIC", "L2"))
    info = wait_indexed(r, "a")
    out.append(("attributes", info[b"attributes"], info[b"num_docs"]))
    for q in ("@tag:{even}", "@n:[5 9]", "doc @tag:{odd}", "*=>[KNN 3 @v $b]"):
        reply = r.execute_command("FT.SEARCH", "a", q, "NOCONTENT", "PARAMS", 2, "b",
                                  np.array([3, 1], dtype=np.float32).tobytes(), "DIALECT", 2,
                                  "SORTBY", "n")
        out.append((q, reply))
    # After the alter a written document has every field, the vector too.
    r.hset("a:3", "t", "rewritten")
    out.append(r.execute_command("FT.SEARCH", "a", "*=>[KNN 1 @v $b]", "NOCONTENT", "PARAMS", 2,
                                 "b", np.array([3, 1], dtype=np.float32).tobytes(), "DIALECT", 2))
    return out


def test_alter_as_redisearch(server):
    mine = scenario(redis.Redis(port=server.port))
    anchor = Anchor()
    try:
        theirs = scenario(anchor.client())
    finally:
        anchor.stop()
    bad = [f"ours {a!r}\n  RediSearch {b!r}" for a, b in zip(mine, theirs) if a != b]
    assert not bad, "\n".join(bad)
    # SKIPINITIALSCAN: the vector field stays empty for old documents until they are written.
    assert mine[-1] == [1, b"a:3"]


def test_alter_through_redis_py_survives_reload_and_replicates(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "p", "PREFIX", 1, "p:", "SCHEMA", "t", "TEXT")
    r.hset("p:1", mapping={"t": "hello", "k": "blue", "m": 7})
    replica = RedisServer(server_args=("--replicaof", "127.0.0.1", str(server.port)))
    try:
        r.ft("p").alter_schema_add([TagField("k"), NumericField("m")])
        wait_indexed(r, "p")
        assert r.ft("p").search("@k:{blue}").total == 1
        r.execute_command("DEBUG", "RELOAD")
        wait_indexed(r, "p")
        assert r.execute_command("FT.SEARCH", "p", "@m:[7 7]", "NOCONTENT") == [1, "p:1"]
        rr = redis.Redis(port=replica.port, decode_responses=True)
        for _ in range(300):
            try:
                if rr.execute_command("FT.SEARCH", "p", "@k:{blue}", "NOCONTENT") == [1, "p:1"]:
                    break
            except redis.ResponseError:
                pass
            time.sleep(0.02)
        else:
            raise AssertionError("the replica never answered for the altered field")
    finally:
        replica.stop()
