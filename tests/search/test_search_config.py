"""FT.CONFIG compared with RediSearch 2.10 itself: GET * and HELP * list the same settings in
the same order with the same values and descriptions (DEFAULT_DIALECT aside: 2 here), and a
battery of SETs answers the same and reads back the same. MAXSEARCHRESULTS bounds LIMIT with
RediSearch's error; redis-py's config_set / config_get."""

import pytest
import redis

from anchor import Anchor

SETS = [("TIMEOUT", "x"), ("TIMEOUT", "-1"), ("TIMEOUT", "0"), ("TIMEOUT", "+5"),
        ("ON_TIMEOUT", "x"), ("ON_TIMEOUT", "fail"), ("ON_TIMEOUT", "RETURN"),
        ("MAXSEARCHRESULTS", "-1"), ("MAXSEARCHRESULTS", "x"), ("MAXSEARCHRESULTS", "0"),
        ("MAXAGGREGATERESULTS", "5"), ("MAXAGGREGATERESULTS", "-1"),
        ("MAXAGGREGATERESULTS", "x"), ("NOGC", "1"), ("MAXDOCTABLESIZE", "5"),
        ("FORK_GC_RUN_INTERVAL", "0"), ("UNION_ITERATOR_HEAP", "0"),
        ("UNION_ITERATOR_HEAP", "7"), ("BG_INDEX_SLEEP_GAP", "0"), ("FRISOINI", "x"),
        ("WORKERS", "2"), ("MIN_PHONETIC_TERM_LEN", "0"), ("MINPREFIX", "0"),
        ("MINPREFIX", "1"), ("CURSOR_MAX_IDLE", "0"), ("GCSCANSIZE", "0"),
        ("FORKGC_SLEEP_BEFORE_EXIT", "-1"), ("_PRINT_PROFILE_CLOCK", "x"),
        ("_NUMERIC_COMPRESS", "true"), ("_NUMERIC_RANGES_PARENTS", "3"),
        ("_NUMERIC_RANGES_PARENTS", "2"), ("FORK_GC_RETRY_INTERVAL", "0"), ("EXTLOAD", "x"),
        ("MAXEXPANSIONS", "0"), ("DEFAULT_DIALECT", "5"), ("MINSTEMLEN", "1"),
        ("nosuch", "1")]


def config_get(r, name="*"):
    return [tuple(p) for p in r.execute_command("FT.CONFIG", "GET", name)]


def run_sets(r):
    out = []
    for name, value in SETS:
        try:
            reply = r.execute_command("FT.CONFIG", "SET", name, value)
        except redis.ResponseError as e:
            reply = f"error: {e}"
        # DEFAULT_DIALECT's default differs by design (2 here, 1 there).
        after = config_get(r, name) if name != "DEFAULT_DIALECT" else None
        out.append((name, value, reply, after))
    return out


def test_settings_are_redisearchs(server):
    ours = redis.Redis(port=server.port, decode_responses=True)
    anchor = Anchor()
    try:
        theirs = anchor.client(decode_responses=True)
        mine, t = config_get(ours), config_get(theirs)
        assert [n for n, _ in mine] == [n for n, _ in t]
        differ = [(a, b) for a, b in zip(mine, t) if a != b]
        assert differ == [(("DEFAULT_DIALECT", "2"), ("DEFAULT_DIALECT", "1"))]
        help_mine = ours.execute_command("FT.CONFIG", "HELP", "*")
        help_t = theirs.execute_command("FT.CONFIG", "HELP", "*")
        assert [h[:3] for h in help_mine] == [h[:3] for h in help_t]
        assert run_sets(ours) == run_sets(theirs)
    finally:
        anchor.stop()


def test_maxsearchresults_bounds_limit(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "m", "PREFIX", 1, "m:", "SCHEMA", "x", "TEXT")
    r.hset("m:1", "x", "a")
    r.hset("m:2", "x", "b")
    assert r.execute_command("FT.SEARCH", "m", "*", "NOCONTENT", "LIMIT", 0, 1000000)[0] == 2
    with pytest.raises(redis.ResponseError, match="^LIMIT exceeds maximum of 1000000$"):
        r.execute_command("FT.SEARCH", "m", "*", "LIMIT", 0, 1000001)
    assert r.ft("m").config_set("MAXSEARCHRESULTS", 1)
    assert r.ft("m").config_get("MAXSEARCHRESULTS") == {"MAXSEARCHRESULTS": "1"}
    with pytest.raises(redis.ResponseError, match="^LIMIT exceeds maximum of 1$"):
        r.execute_command("FT.SEARCH", "m", "*", "LIMIT", 0, 2)
    # Only the count is bounded, as in RediSearch.
    assert r.execute_command("FT.SEARCH", "m", "*", "NOCONTENT", "LIMIT", 1, 1) == [2, "m:2"]
    r.execute_command("FT.CONFIG", "SET", "MAXSEARCHRESULTS", -1)
    assert r.ft("m").config_get("MAXSEARCHRESULTS") == {"MAXSEARCHRESULTS": "unlimited"}
    assert r.execute_command("FT.SEARCH", "m", "*", "NOCONTENT", "LIMIT", 0, 10 ** 9)[0] == 2


def test_resp3_and_profile_clock(server):
    r = redis.Redis(port=server.port, decode_responses=True, protocol=3)
    got = r.execute_command("FT.CONFIG", "GET", "*")
    assert got["EXTLOAD"] is None and got["ON_TIMEOUT"] == "return"
    r.execute_command("FT.CONFIG", "SET", "_PRINT_PROFILE_CLOCK", "false")
    r.execute_command("FT.CREATE", "c", "PREFIX", 1, "c:", "SCHEMA", "x", "TEXT")
    r.hset("c:1", "x", "hello")
    prof = r.execute_command("FT.PROFILE", "c", "SEARCH", "QUERY", "hello")["profile"]
    assert prof["Total profile time"] == 0 and prof["Parsing time"] == 0
    assert all(p["Time"] == 0 for p in prof["Result processors profile"])
