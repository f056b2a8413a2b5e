"""FT.SEARCH never shows a document whose key the user may not read: not returned, not
counted, not reachable through INKEYS, whatever the query (KNN, filters, range)."""

import numpy as np
import pytest
import redis


def test_search_hides_keys_the_user_cannot_read(server):
    r = redis.Redis(port=server.port)
    r.execute_command("FT.CREATE", "idx", "ON", "HASH", "PREFIX", 1, "doc:", "SCHEMA",
                      "team", "TAG", "n", "NUMERIC",
                      "v", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", 2,
                      "DISTANCE_METRIC", "L2")
    for i in range(20):
        team = "red" if i % 2 else "blue"
        # The secret documents are the nearest to the query vector: a leak would show.
        key = f"doc:{team}:{i}"
        v = np.array([i, 0], dtype=np.float32)
        r.hset(key, mapping={"team": team, "n": i, "v": v.tobytes()})
    r.execute_command("ACL", "SETUSER", "blue", "on", ">pw", "~doc:blue:*", "+@all")
    r.execute_command("ACL", "SETUSER", "none", "on", ">pw", "~nothing:*", "+@all")
    r.execute_command("ACL", "SETUSER", "all", "on", ">pw", "allkeys", "+@all")
    blue = redis.Redis(port=server.port, username="blue", password="pw")
    none = redis.Redis(port=server.port, username="none", password="pw")
    everyone = redis.Redis(port=server.port, username="all", password="pw")
    q = np.array([1, 0], dtype=np.float32).tobytes()

    def keys(client, *args):
        res = client.execute_command("FT.SEARCH", "idx", *args)
        found = res[1:] if "NOCONTENT" in args else res[1::2]
        return res[0], sorted(k.decode() for k in found)

    knn = ("*=>[KNN 5 @v $q]", "PARAMS", 2, "q", q, "DIALECT", 2, "NOCONTENT")
    total, found = keys(blue, *knn)
    assert total == 5 and all(k.startswith("doc:blue:") for k in found)
    assert found == ["doc:blue:0", "doc:blue:2", "doc:blue:4", "doc:blue:6", "doc:blue:8"]
    total, found = keys(everyone, *knn)
    assert total == 5 and "doc:red:1" in found
    # Every query shape: filters, numeric ranges, wildcard, LIMIT 0 0 counts.
    for args in (("*", "NOCONTENT", "LIMIT", 0, 100),
                 ("@team:{red}", "NOCONTENT"),
                 ("@n:[0 100]", "NOCONTENT", "LIMIT", 0, 100),
                 ("*", "LIMIT", 0, 0)):
        total, found = keys(blue, *args)
        assert all(k.startswith("doc:blue:") for k in found), args
        assert total == (0 if "red" in args[0] else 10), args
        total, _ = keys(none, *args)
        assert total == 0, args
    total, found = keys(blue, "*", "INKEYS", 2, "doc:red:1", "doc:blue:2", "NOCONTENT")
    assert (total, found) == (1, ["doc:blue:2"])
    total, found = keys(blue, "@v:[VECTOR_RANGE 100 $q]", "PARAMS", 2, "q", q, "DIALECT", 2,
                        "NOCONTENT", "LIMIT", 0, 100)
    # L2 is squared: (i - 1)^2 <= 100 holds for i <= 11, of which 0, 2, ..., 10 are blue.
    assert total == 6 and all(k.startswith("doc:blue:") for k in found)
    # Key patterns that read almost everything still hide the rest: a user who may read
    # every key except those starting with "d", and one who may only write every key.
    r.execute_command("ACL", "SETUSER", "notd", "on", ">pw", "~[^d]*", "+@all")
    r.execute_command("ACL", "SETUSER", "writer", "on", ">pw", "%W~*", "+@all")
    r.execute_command("ACL", "SETUSER", "reader", "on", ">pw", "%R~*", "+@all")
    for user, expected in (("notd", 0), ("writer", 0), ("reader", 20)):
        client = redis.Redis(port=server.port, username=user, password="pw")
        assert keys(client, "*", "LIMIT", 0, 0)[0] == expected, user
        assert keys(client, *knn)[0] == min(expected, 5), user
    # The answer is not kept past a change of the user's ACL: directly, or inside MULTI.
    assert keys(everyone, "*", "LIMIT", 0, 0)[0] == 20
    r.execute_command("ACL", "SETUSER", "all", "resetkeys", "~doc:blue:*")
    assert keys(everyone, "*", "LIMIT", 0, 0)[0] == 10
    tx = r.pipeline(transaction=True)
    tx.execute_command("ACL", "SETUSER", "all", "allkeys")
    tx.execute()
    assert keys(everyone, "*", "LIMIT", 0, 0)[0] == 20
    # The unrestricted user sees everything.
    assert keys(everyone, "*", "LIMIT", 0, 0)[0] == 20
    assert keys(r, "*", "LIMIT", 0, 0)[0] == 20
