"""FT.AGGREGATE, cursors and FT.HYBRID on a Redis Cluster of 3 masters and 3 replicas (real
redis-server processes with the module), against one server holding the same documents: every
node, replicas included, answers each pipeline as the single server does, in RESP2 and RESP3. Rows are compared in
order where the single server's order is defined (a SORTBY that leaves no ties); where it is
not (GROUPBY without SORTBY, LIMIT without SORTBY) both sides are sorted first.

The cluster is shared by the tests of this file, which run in order: the one that stops a
shard (SIGSTOP) comes last."""

import os
import signal
import threading

import numpy as np
import pytest
import redis

from cluster_harness import Cluster, wait_for
from search_server import RedisServer

N = 3000
DIM = 8
TAGS = ["red", "green", "blue", "gray"]
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon"]

CREATE = ["FT.CREATE", "agg", "PREFIX", "1", "d:", "SCHEMA", "tag", "TAG", "n", "NUMERIC",
          "SORTABLE", "m", "NUMERIC", "txt", "TEXT", "city", "TAG", "SORTABLE",
          "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2"]


def documents():
    rng = np.random.default_rng(11)
    vecs = rng.random((N, DIM), dtype=np.float32)
    for i in range(N):
        doc = {
            "tag": TAGS[i % 4],
            # Distinct values: a SORTBY on n has no ties.
            "n": i * 7 % N + 0.5,
            "txt": f"{WORDS[i % 5]} {WORDS[(i * 3) % 5]}" + (" unique" if i == 17 else ""),
            "city": f"c{i % 13}",
            "v": vecs[i].tobytes(),
        }
        if i % 3:
            doc["m"] = i % 50
        yield f"d:{i}", doc


@pytest.fixture(scope="module")
def world():
    from test_search_json import REJSON
    # RedisJSON too where it was fetched: RedisVL's router keeps its configuration in JSON.
    rejson = ("--loadmodule", REJSON) if os.path.isfile(REJSON) else ()
    cluster = Cluster(masters=3, replicas=1, server_args=rejson)
    single = RedisServer()
    try:
        rc = cluster.client()
        cluster.masters()[0].client().execute_command(*CREATE)
        redis.Redis(port=single.port).execute_command(*CREATE)
        for n in cluster.nodes:
            wait_for(f"agg on {n.port}", lambda n=n: b"agg" in n.client().execute_command("FT._LIST"))
        pipe = rc.pipeline(transaction=False)
        one = redis.Redis(port=single.port).pipeline(transaction=False)
        for key, doc in documents():
            pipe.hset(key, mapping=doc)
            one.hset(key, mapping=doc)
        pipe.execute()
        one.execute()
        yield cluster, single
    finally:
        cluster.stop()
        single.stop()


def qvec(seed):
    return np.random.default_rng(seed).random(DIM, dtype=np.float32).tobytes()


def rows_of(reply, protocol):
    """(total, rows as sorted (name, value) lists) of an FT.AGGREGATE reply."""
    if protocol == 2:
        return reply[0], [sorted(zip(r[::2], r[1::2])) for r in reply[1:]]
    results = reply[b"results"]
    return reply[b"total_results"], [sorted(r[b"extra_attributes"].items()) for r in results]


# (arguments after the index name, whether the row order is defined, whether totals compare)
def pipelines():
    b = qvec(1)
    yield ["*", "GROUPBY", "1", "@tag", "REDUCE", "COUNT", "0", "AS", "c"], False, True
    yield ["*", "GROUPBY", "1", "@city", "REDUCE", "SUM", "1", "@n", "AS", "s",
           "REDUCE", "MIN", "1", "@n", "REDUCE", "MAX", "1", "@n", "AS", "mx"], False, True
    yield ["*", "GROUPBY", "1", "@tag", "REDUCE", "AVG", "1", "@m", "AS", "a",
           "REDUCE", "COUNT_DISTINCT", "1", "@city", "AS", "cd",
           "REDUCE", "COUNT_DISTINCTISH", "1", "@m", "AS", "cdi"], False, True
    yield ["*", "GROUPBY", "1", "@tag", "REDUCE", "QUANTILE", "2", "@n", "0.5", "AS", "q",
           "REDUCE", "STDDEV", "1", "@m", "AS", "sd", "APPLY", "floor(@sd*1000)", "AS", "sd"], False, True
    yield ["@tag:{red}", "GROUPBY", "1", "@city", "REDUCE", "TOLIST", "1", "@m", "AS", "l",
           "APPLY", "0", "AS", "l"], False, True
    yield ["*", "GROUPBY", "1", "@tag", "REDUCE", "FIRST_VALUE", "4", "@n", "BY", "@n", "DESC",
           "AS", "top"], False, True
    yield ["*", "GROUPBY", "1", "@tag", "REDUCE", "RANDOM_SAMPLE", "2", "@city", "50", "AS", "r",
           "APPLY", "1", "AS", "r"], False, True
    yield ["*", "GROUPBY", "2", "@tag", "@city", "REDUCE", "COUNT", "0", "AS", "c",
           "SORTBY", "6", "@c", "DESC", "@tag", "ASC", "@city", "ASC", "LIMIT", "3", "10"], True, True
    yield ["*", "APPLY", "@n*2", "AS", "n2", "FILTER", "@n2>1000", "GROUPBY", "1", "@tag",
           "REDUCE", "SUM", "1", "@n2", "AS", "s", "SORTBY", "2", "@s", "DESC"], True, True
    yield ["@tag:{blue|green}", "SORTBY", "2", "@n", "DESC", "MAX", "25"], True, True
    yield ["*", "LOAD", "2", "@txt", "@m", "SORTBY", "2", "@n", "ASC", "LIMIT", "40", "20"], True, True
    yield ["gamma", "LOAD", "1", "@city", "SORTBY", "2", "@n", "ASC", "APPLY", "upper(@city)", "AS", "u",
           "LIMIT", "0", "15"], True, True
    yield ["@n:[100 200]", "LOAD", "*"], False, False
    yield ["@tag:{gray}", "LOAD", "1", "@__key", "FILTER", "@n<300"], False, False
    yield ["*", "GROUPBY", "1", "@city", "REDUCE", "COUNT", "0", "AS", "c",
           "GROUPBY", "1", "@c", "REDUCE", "TOLIST", "1", "@city", "AS", "cities",
           "APPLY", "0", "AS", "cities"], False, True
    # KNN: the shards' k nearest cut to the cluster's k before the pipeline runs.
    yield ["*=>[KNN 12 @v $b AS d]", "PARAMS", "2", "b", b, "SORTBY", "2", "@d", "ASC",
           "LOAD", "1", "@__key", "DIALECT", "2"], True, True
    yield ["*=>[KNN 30 @v $b AS d]", "PARAMS", "2", "b", b, "GROUPBY", "1", "@tag",
           "REDUCE", "MIN", "1", "@d", "AS", "best", "REDUCE", "COUNT", "0", "AS", "c",
           "SORTBY", "2", "@best", "ASC", "DIALECT", "2"], True, True
    yield ["(@tag:{red})=>[KNN 8 @v $b AS d]", "PARAMS", "2", "b", b, "LOAD", "1", "@city",
           "APPLY", "@d*10", "AS", "d10", "FILTER", "@d10<100", "DIALECT", "2"], False, False
    yield ["@v:[VECTOR_RANGE 0.6 $b]=>{$YIELD_DISTANCE_AS: dist}", "PARAMS", "2", "b", b,
           "LOAD", "1", "@__key", "SORTBY", "2", "@dist", "ASC", "LIMIT", "0", "100", "DIALECT", "2"], True, True
    yield ["@v:[VECTOR_RANGE 0.7 $b]=>{$YIELD_DISTANCE_AS: dist}", "PARAMS", "2", "b", b,
           "GROUPBY", "1", "@tag", "REDUCE", "COUNT", "0", "AS", "c", "DIALECT", "2"], False, True
    yield ["gamma", "ADDSCORES", "SCORER", "DOCSCORE", "GROUPBY", "1", "@__score",
           "REDUCE", "COUNT", "0", "AS", "c"], False, True


@pytest.mark.parametrize("protocol", [2, 3])
def test_every_node_aggregates_as_one_server(world, protocol):
    cluster, single = world
    one = redis.Redis(port=single.port, protocol=protocol)
    assert len(cluster.masters()) == 3 and len(cluster.replicas()) == 3
    masters = [n.client(protocol=protocol) for n in cluster.nodes]
    checked = 0
    for args, ordered, totals in pipelines():
        want_total, want = rows_of(one.execute_command("FT.AGGREGATE", "agg", *args), protocol)
        assert want, args  # Every pipeline has rows to compare.
        for node in masters:
            got_total, got = rows_of(node.execute_command("FT.AGGREGATE", "agg", *args), protocol)
            if not ordered:
                got, want_sorted = sorted(got), sorted(want)
            else:
                want_sorted = want
            assert got == want_sorted, (args[:8], got[:3], want_sorted[:3])
            if totals:
                assert got_total == want_total, args[:8]
        checked += 1
    assert checked == 21


def test_cursor_paging_returns_every_row_once(world):
    cluster, single = world
    for node in cluster.masters():
        c = node.client()
        reply, cursor = c.execute_command("FT.AGGREGATE", "agg", "*", "LOAD", "1", "@__key",
                                          "WITHCURSOR", "COUNT", "700")
        keys = [r[1] for r in reply[1:]]
        reads = 1
        while cursor:
            reply, cursor = c.execute_command("FT.CURSOR", "READ", "agg", cursor)
            keys += [r[1] for r in reply[1:]]
            reads += 1
        assert len(keys) == N and len(set(keys)) == N and reads == 5
        # The cursor lives on the node that made it; DEL there ends it.
        reply, cursor = c.execute_command("FT.AGGREGATE", "agg", "*", "GROUPBY", "1", "@city",
                                          "WITHCURSOR", "COUNT", "5")
        assert len(reply) == 6 and cursor
        assert c.execute_command("FT.CURSOR", "DEL", "agg", cursor) == b"OK"
        with pytest.raises(redis.ResponseError, match="Cursor"):
            c.execute_command("FT.CURSOR", "READ", "agg", cursor)


def test_errors_are_replied_before_anything_is_sent(world):
    cluster, _ = world
    c = cluster.masters()[0].client()
    with pytest.raises(redis.ResponseError, match="No such reducer"):
        c.execute_command("FT.AGGREGATE", "agg", "*", "GROUPBY", "1", "@tag", "REDUCE", "NOPE", "0")
    with pytest.raises(redis.ResponseError, match="No such property"):
        c.execute_command("FT.AGGREGATE", "agg", "*", "GROUPBY", "1", "@nope")
    with pytest.raises(redis.ResponseError, match="Unknown index name|no such index"):
        c.execute_command("FT.AGGREGATE", "nope", "*")
    # A runtime error on a shard names the shard.
    with pytest.raises(redis.ResponseError):
        c.execute_command("FT.AGGREGATE", "agg", "*", "LOAD", "1", "@txt",
                          "APPLY", "@txt + 1", "AS", "x")


def test_acl_user_aggregates_only_its_keys(world):
    cluster, single = world
    rule = ["ACL", "SETUSER", "aggreader", "on", "nopass", "~d:1*", "+@all"]
    for n in cluster.nodes:
        n.client().execute_command(*rule)
    redis.Redis(port=single.port).execute_command(*rule)
    q = ["FT.AGGREGATE", "agg", "*", "GROUPBY", "0", "REDUCE", "COUNT", "0", "AS", "c"]
    want = redis.Redis(port=single.port, username="aggreader").execute_command(*q)
    assert 0 < int(want[1][1]) < N
    for n in cluster.masters():
        assert n.client(username="aggreader").execute_command(*q) == want


def hybrid_ids(reply):
    results = reply[reply.index(b"results") + 1]
    return [dict(zip(r[::2], r[1::2]))[b"__key"] for r in results]


def test_hybrid_gives_one_servers_ids_where_scores_cannot_differ(world):
    """Text scores are each shard's own (IDF per shard), so only fusions whose ranking does not
    depend on them are compared: LINEAR with ALPHA 0 (the vector side decides), and RRF with a
    text query that matches a single document (its text rank is 1 everywhere)."""
    cluster, single = world
    one = redis.Redis(port=single.port)
    b = qvec(5)
    for args in (
        ["SEARCH", "gamma", "VSIM", "@v", "$b", "KNN", "2", "K", "15",
         "COMBINE", "LINEAR", "4", "ALPHA", "0", "BETA", "1", "LIMIT", "0", "15", "PARAMS", "2", "b", b],
        ["SEARCH", "unique", "VSIM", "@v", "$b", "KNN", "2", "K", "10",
         "COMBINE", "RRF", "2", "CONSTANT", "60", "LOAD", "2", "@__key", "@city",
         "PARAMS", "2", "b", b],
        ["SEARCH", "unique", "VSIM", "@v", "$b", "FILTER", "@tag:{red}",
         "LIMIT", "0", "5", "PARAMS", "2", "b", b],
    ):
        want = hybrid_ids(one.execute_command("FT.HYBRID", "agg", *args))
        assert len(want) >= 5
        for n in cluster.nodes:
            got = hybrid_ids(n.client().execute_command("FT.HYBRID", "agg", *args))
            assert got == want, args[:4]
    # The document the text side alone found is fused in, from whichever shard holds it.
    got = hybrid_ids(cluster.masters()[0].client().execute_command(
        "FT.HYBRID", "agg", "SEARCH", "unique", "VSIM", "@v", "$b", "KNN", "2", "K", "3",
        "PARAMS", "2", "b", b))
    assert b"d:17" in got


def test_redisvl_semantic_router_routes_as_on_one_server(world):
    """RedisVL's SemanticRouter through redis-py's RedisCluster: its KNN + GROUPBY route_name
    aggregations fan out and give the distances numpy gives (the single-server test's
    expectations)."""
    from test_search_json import REJSON
    if not os.path.isfile(REJSON):
        pytest.skip("RedisJSON not available: the router stores its configuration in JSON")
    from redisvl.extensions.router import Route, SemanticRouter
    from redisvl.extensions.router.schema import DistanceAggregationMethod, RoutingConfig
    from redisvl.utils.vectorize import CustomTextVectorizer
    from test_search_redisvl_aggregate import FAREWELL, GREETING, expected, toy_embed

    cluster, _ = world
    with pytest.warns(Warning):  # CustomTextVectorizer is a deprecated alias
        vectorizer = CustomTextVectorizer(embed=toy_embed)
    routes = [Route(name="greeting", references=GREETING, distance_threshold=0.7),
              Route(name="farewell", references=FAREWELL, distance_threshold=0.5)]
    rc = cluster.client()
    router = SemanticRouter(name="router", routes=routes, vectorizer=vectorizer,
                            redis_client=rc, overwrite=True)
    # The references are spread over the shards.
    held = [int(n.client().execute_command("DBSIZE")) for n in cluster.masters()]
    assert sum(1 for h in held if h > 0) >= 2, held
    queries = ["hello my friend", "bye friend", "hello there friend", "good morning",
               "see you later friend", "hello goodbye friend", "quantum chromodynamics lecture"]
    routed = 0
    for method in ("avg", "min", "sum"):
        router.update_routing_config(RoutingConfig(
            max_k=2, aggregation_method=DistanceAggregationMethod(method)))
        for q in queries:
            want = expected(q, routes, method)
            got = {m.name: m.distance for m in router.route_many(q, max_k=2)}
            assert set(got) == set(want), (method, q)
            for name in want:
                assert got[name] == pytest.approx(want[name], abs=1e-4), (method, q, name)
            match = router(q)
            assert match.name == (min(want, key=want.get) if want else None), (method, q)
            routed += bool(want)
    assert routed >= 12
    router.delete()


def test_a_shard_that_stops_answering_is_named(world):
    cluster, _ = world
    masters = cluster.masters()
    stopped, asked = masters[2], masters[0]
    os.kill(stopped.pid, signal.SIGSTOP)
    try:
        errors = []

        def ask(args):
            try:
                asked.client().execute_command(*args)
            except redis.ResponseError as e:
                errors.append(str(e))

        threads = [threading.Thread(target=ask, args=(q,)) for q in (
            ["FT.AGGREGATE", "agg", "*", "GROUPBY", "1", "@tag", "TIMEOUT", "400"],
            ["FT.HYBRID", "agg", "SEARCH", "gamma", "VSIM", "@v", "$b", "PARAMS", "2", "b", qvec(1),
             "TIMEOUT", "400"],
        )]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(errors) == 2, errors
        for e in errors:
            assert f":{stopped.port}" in e and "did not answer within 400 ms" in e, e
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
    wait_for("whole again", lambda: asked.client().execute_command(
        "FT.AGGREGATE", "agg", "*", "GROUPBY", "0", "REDUCE", "COUNT", "0", "AS", "c")[1][1] == str(N).encode())
