"""TIMEOUT and ON_TIMEOUT, as RediSearch 2.10 has them: a search that reaches its deadline (its
own TIMEOUT, else FT.CONFIG's, 0 for none) answers with what it found by then, which RESP3 says
in `warning` (RESP2 cannot say it), or fails with `Timeout limit was reached` under
ON_TIMEOUT FAIL. The heavy query scores every document (an 8-word union over 10,000 documents
of 20 words: tens of milliseconds however fast the machine), so TIMEOUT 1 always cuts it short.
Bad TIMEOUT values are compared with RediSearch itself."""

import random

import pytest
import redis

from anchor import Anchor, differences
from search_util import client

N = 10_000
HEAVY = "w1|w2|w3|w4|w5|w6|w7|w8"
WARNING = "Timeout limit was reached"


@pytest.fixture(scope="module")
def loaded(module_server):
    r = client(module_server, decode_responses=True)
    r.execute_command("FT.CREATE", "tmo", "PREFIX", "1", "t:", "SCHEMA", "t", "TEXT", "n",
                      "NUMERIC", "SORTABLE")
    rnd = random.Random(7)
    words = [f"w{i}" for i in range(200)]
    p = r.pipeline(transaction=False)
    for i in range(N):
        p.hset(f"t:{i}", mapping={"t": " ".join(rnd.choice(words) for _ in range(20)), "n": i})
        if i % 2000 == 1999:
            p.execute()
    p.execute()
    full = r.execute_command("FT.SEARCH", "tmo", HEAVY, "TIMEOUT", "0", "LIMIT", "0", "1",
                             "NOCONTENT")[0]
    assert full > N // 3
    yield module_server, full
    r.execute_command("FT.CONFIG", "SET", "TIMEOUT", "500")
    r.execute_command("FT.CONFIG", "SET", "ON_TIMEOUT", "RETURN")


def test_resp3_warns_and_answers_what_it_found(loaded):
    server, full = loaded
    r3 = client(server, protocol=3, decode_responses=True)
    for cmd in (["FT.SEARCH", "tmo", HEAVY, "TIMEOUT", "1", "LIMIT", "0", "3", "NOCONTENT"],
                ["FT.SEARCH", "tmo", HEAVY, "TIMEOUT", "1", "SORTBY", "n", "LIMIT", "0", "3"]):
        res = r3.execute_command(*cmd)
        assert res["warning"] == [WARNING], cmd
        assert res["total_results"] < full, cmd
        assert len(res["results"]) <= 3
    whole = r3.execute_command("FT.SEARCH", "tmo", HEAVY, "TIMEOUT", "0", "LIMIT", "0", "3")
    assert (whole["warning"], whole["total_results"]) == ([], full)
    agg = r3.execute_command("FT.AGGREGATE", "tmo", HEAVY, "TIMEOUT", "1", "LOAD", "1", "@n")
    assert agg["warning"] == [WARNING]


def test_resp2_answers_the_partial_page_alone(loaded):
    server, full = loaded
    r = client(server, decode_responses=True)
    res = r.execute_command("FT.SEARCH", "tmo", HEAVY, "TIMEOUT", "1", "LIMIT", "0", "3",
                            "NOCONTENT")
    assert res[0] < full and len(res) <= 4
    assert r.execute_command("FT.SEARCH", "tmo", HEAVY, "TIMEOUT", "0", "LIMIT", "0", "0")[0] == full


def test_the_configured_timeout_applies_and_fail_is_an_error(loaded):
    server, full = loaded
    r = client(server, decode_responses=True)
    try:
        r.execute_command("FT.CONFIG", "SET", "TIMEOUT", "1")
        res = r.execute_command("FT.SEARCH", "tmo", HEAVY, "LIMIT", "0", "1", "NOCONTENT")
        assert res[0] < full
        # The query's own TIMEOUT wins over the setting, 0 meaning none.
        res = r.execute_command("FT.SEARCH", "tmo", HEAVY, "TIMEOUT", "0", "LIMIT", "0", "1")
        assert res[0] == full
        r.execute_command("FT.CONFIG", "SET", "ON_TIMEOUT", "FAIL")
        for cmd in (["FT.SEARCH", "tmo", HEAVY], ["FT.AGGREGATE", "tmo", HEAVY, "LOAD", "1", "@n"]):
            with pytest.raises(redis.ResponseError, match=WARNING):
                r.execute_command(*cmd)
        # Cheap searches are not failed: only a search that reached its deadline is.
        assert r.execute_command("FT.SEARCH", "tmo", "@n:[5 5]", "NOCONTENT") == [1, "t:5"]
    finally:
        r.execute_command("FT.CONFIG", "SET", "TIMEOUT", "500")
        r.execute_command("FT.CONFIG", "SET", "ON_TIMEOUT", "RETURN")


def test_bad_timeouts_are_redisearchs_errors(module_server):
    ours = client(module_server, decode_responses=True)
    anchor = Anchor()
    try:
        theirs = anchor.client(decode_responses=True)
        for r in (ours, theirs):
            r.execute_command("FT.CREATE", "bt", "PREFIX", "1", "bt:", "SCHEMA", "t", "TEXT")
            r.hset("bt:1", "t", "hello")
        commands = [[c, "bt", "hello", "TIMEOUT", v] for c in ("FT.SEARCH", "FT.AGGREGATE")
                    for v in ("abc", "-1", "1.5", "0", "100", "", " 5", "+5", "5x")]
        commands += [["FT.SEARCH", "bt", "hello", "TIMEOUT"], ["FT.AGGREGATE", "bt", "hello",
                                                                 "TIMEOUT"],
                     ["FT.SEARCH", "bt", "hello", "TIMEOUT", "NOCONTENT"]]
        assert differences(ours, theirs, commands) == []
    finally:
        anchor.stop()
