"""GEO fields: `lon,lat` values, `@f:[lon lat radius unit]` and GEOFILTER, compared reply for
reply with RediSearch 2.10 itself on the same documents (distances from Redis's geohash)."""

import random

import redis

from anchor import Anchor

SCHEMA = ("FT.CREATE", "g", "ON", "HASH", "PREFIX", 1, "p:", "SCHEMA",
          "loc", "GEO", "SORTABLE", "n", "NUMERIC", "t", "TAG")

FIXED = {
    "p:sf": "-122.4194,37.7749", "p:la": "-118.2437,34.0522", "p:paris": "2.3522 48.8566",
    "p:oak": "-122.27,37.80", "p:edge": "180,85.05112878", "p:zero": ",37", "p:one": "1,",
    "p:sp": "1, 2", "p:exp": "1e1,2e1",
    # Refused: out of range, not numbers, blanks where strtod stops, a third number, empty.
    "p:bad1": "200,10", "p:bad2": "abc", "p:bad3": "10,90", "p:bad4": " -122.4,37.7",
    "p:bad5": "-122.4194,37.7749,5", "p:bad6": "", "p:bad7": "1 ,2", "p:bad8": "1\t2",
    "p:bad9": "inf,2",
}

QUERIES = [
    ("@loc:[-122.4194 37.7749 20 km]",),
    ("@loc:[-122.4194 37.7749 20000 m]",),
    ("@loc:[-122.4194 37.7749 1 mi]",),
    ("@loc:[-122.4194 37.7749 100 ft]",),
    ("@loc:[-122.4194 37.7749 20 KM]",),
    ("@loc:[-122.4194,37.7749,20,km]",),
    ("@loc:[-122.4194 37.7749 -1 km]",),
    ("@loc:[-122.4194 37.7749 0 km]",),
    ("@loc:[-122.4194 37.7749 20 xx]",),
    ("@loc:[200 37 -1 xx]",),
    ("@loc:[200 37 1 km]",),
    ("@loc:[-122.4194 37.7749 20 km 5]",),
    ("@loc:[-122.4194 37.7749]",),
    ("@loc:[$lon $lat $r $u]", "PARAMS", 8, "lon", "-122.4194", "lat", "37.7749", "r", "600",
     "u", "km"),
    ("@n:[0 5] @loc:[-122.4194 37.7749 600 km]",),
    ("-@loc:[-122.4194 37.7749 20 km]",),
    ("@t:{a} | @loc:[2 48 100 km]",),
    ("*", "GEOFILTER", "loc", "-122.4194", "37.7749", "20", "km"),
    ("*", "GEOFILTER", "loc", "2.35", "48.85", "10", "km", "GEOFILTER", "loc", "-122.4194",
     "37.7749", "20", "km"),
    ("*", "GEOFILTER", "loc", "-122.4194", "37.7749", "20", "km", "GEOFILTER", "loc", "2.35",
     "48.85", "10", "km"),
    ("*", "GEOFILTER", "loc", "1", "2", "3", "KM"),
    ("*", "GEOFILTER", "loc", "1", "2"),
    ("*", "GEOFILTER", "loc", "a", "2", "3", "km"),
    ("*", "GEOFILTER", "loc", "1", "b", "3", "km"),
    ("*", "GEOFILTER", "loc", "1", "2", "c", "km"),
    ("*", "GEOFILTER", "loc", "200", "2", "3", "km"),
    ("*", "GEOFILTER", "loc", "1", "2", "-3", "km"),
    ("*", "GEOFILTER", "loc", "200", "2", "-3", "xx"),
    ("*", "GEOFILTER", "nofield", "1", "2", "3", "km"),
    ("*", "GEOFILTER", "n", "1", "2", "3", "km"),
    ("@t:{a}", "GEOFILTER", "loc", "-122.4194", "37.7749", "600", "km", "LIMIT", 0, 0),
]


def load(r, points):
    r.execute_command(*SCHEMA)
    for i, (key, value) in enumerate(points.items()):
        r.hset(key, mapping={"loc": value, "n": i % 7, "t": "a" if i % 3 else "b"})


def answers(r, points):
    out = []
    info = r.execute_command("FT.INFO", "g")
    fields = dict(zip(info[::2], info[1::2]))
    out.append(("num_docs", fields[b"num_docs"], fields[b"hash_indexing_failures"]))
    out.append(("attributes", fields[b"attributes"]))
    for q in QUERIES:
        args = ("FT.SEARCH", "g", *q, "NOCONTENT", "DIALECT", 2)
        if "LIMIT" not in q:
            args += ("LIMIT", 0, 1000)
        try:
            reply = r.execute_command(*args)
            out.append((q, reply[0], sorted(reply[1:])))
        except redis.ResponseError as e:
            out.append((q, "error", str(e)))
    reply = r.execute_command("FT.SEARCH", "g", "*", "SORTBY", "loc", "NOCONTENT", "LIMIT", 0, 1000)
    out.append(("sortby", reply))
    return out


def random_points(n, seed):
    rng = random.Random(seed)
    # Clustered around the Bay Area so that many points sit near the filters' edges.
    return {f"p:r{i}": f"{-122.4 + rng.uniform(-0.5, 0.5):.6f},{37.77 + rng.uniform(-0.4, 0.4):.6f}"
            for i in range(n)}


def test_geo_answers_as_redisearch_does(server):
    points = {**FIXED, **random_points(300, 7)}
    ours = redis.Redis(port=server.port)
    load(ours, points)
    mine = answers(ours, points)
    # The module's own answers, checked without the oracle too.
    by_query = {entry[0]: entry[1:] for entry in mine[2:-1]}
    assert mine[0] == ("num_docs", 309, 9)
    assert by_query[QUERIES[0]][0] > 2
    assert by_query[QUERIES[6]] == ("error", "Invalid GeoFilter radius")
    assert by_query[QUERIES[8]] == ("error", "Invalid GeoFilter unit")
    assert by_query[QUERIES[10]] == ("error", "Invalid GeoFilter lat/lon")
    try:
        ours.execute_command("FT.SEARCH", "g", "*", "GEOFILTER", "loc", "1", "2")
        raise AssertionError("GEOFILTER with three arguments was accepted")
    except redis.ResponseError as e:
        assert str(e) == "GEOFILTER requires 5 arguments"
    anchor = Anchor()
    try:
        theirs_client = anchor.client()
        load(theirs_client, points)
        theirs = answers(theirs_client, points)
    finally:
        anchor.stop()
    for a, b in zip(mine, theirs):
        assert a == b, f"ours {a!r}\nRediSearch {b!r}"


def test_geo_values_reindex_and_survive_reload(server):
    r = redis.Redis(port=server.port)
    load(r, {"p:sf": "-122.4194,37.7749"})
    q = ("FT.SEARCH", "g", "@loc:[-122.4194 37.7749 1 km]", "NOCONTENT", "DIALECT", 2)
    assert r.execute_command(*q) == [1, b"p:sf"]
    r.hset("p:sf", "loc", "2.3522,48.8566")
    assert r.execute_command(*q) == [0]
    r.hset("p:sf", "loc", "-122.4194,37.7749")
    r.execute_command("DEBUG", "RELOAD")
    assert r.execute_command(*q) == [1, b"p:sf"]
    assert r.execute_command("FT.SEARCH", "g", "*", "GEOFILTER", "loc", "-122.42", "37.77", "2",
                             "km", "NOCONTENT") == [1, b"p:sf"]
