"""FT.* on a Redis Cluster of 3 masters and 3 replicas (real redis-server processes with the
module): definitions reach every node, and every search asked of any node answers what one
server holding the same documents answers; a shard that stops answering, and a master killed
mid-run, give errors, never short answers.

The cluster is shared by the tests of this file, which run in order: the destructive ones
(SIGSTOP, kill -9) come last."""

import os
import signal
import subprocess
import tempfile
import threading
import time

import numpy as np
import pytest
import redis
from redis.commands.search.field import NumericField, TagField, TextField, VectorField
from redis.commands.search.index_definition import IndexDefinition, IndexType

from anchor import Anchor
from cluster_harness import Cluster, Node, wait_for
from search_server import RedisServer

N = 2000
DIM = 8
# Every tenth document has a large vector too: a KNN over it is costly enough that each shard
# runs it on a search thread (and then reads its documents under the server lock).
BIG_DIM = 4000
TAGS = ["red", "green", "blue"]
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon"]

SCHEMA = [
    TagField("tag"),
    NumericField("n", sortable=True),
    TextField("txt"),
    VectorField("v", "FLAT", {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "L2"}),
    VectorField("big", "FLAT", {"TYPE": "FLOAT32", "DIM": BIG_DIM, "DISTANCE_METRIC": "L2"}),
]
DEFINITION = IndexDefinition(prefix=["doc:"], index_type=IndexType.HASH)


def documents():
    rng = np.random.default_rng(7)
    vecs = rng.random((N, DIM), dtype=np.float32)
    for i in range(N):
        doc = {
            "tag": TAGS[i % 3],
            "n": int(rng.integers(0, 10**9)),
            "txt": f"{WORDS[i % 5]} {WORDS[(i * 7) % 5]}",
            "v": vecs[i].tobytes(),
        }
        if i % 10 == 0:
            doc["big"] = rng.random(BIG_DIM, dtype=np.float32).tobytes()
        yield f"doc:{i}", doc


@pytest.fixture(scope="module")
def world():
    cluster = Cluster(masters=3, replicas=1)
    single = RedisServer()
    try:
        rc = cluster.client()
        rc.ft("idx").create_index(SCHEMA, definition=DEFINITION)
        redis.Redis(port=single.port).ft("idx").create_index(SCHEMA, definition=DEFINITION)
        for n in cluster.nodes:
            wait_for(f"idx on {n.port}", lambda n=n: b"idx" in n.client().execute_command("FT._LIST"))
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


def query_vector(dim, seed):
    return np.random.default_rng(seed).random(dim, dtype=np.float32).tobytes()


def normal(reply):
    """A RESP2 reply with each document's fields in name order: a hash too large for a listpack
    lists its fields in an order of its own on each server."""
    if isinstance(reply, list):
        return [sorted(zip(r[::2], r[1::2])) if isinstance(r, list) else r for r in reply]
    return reply


def queries():
    b = query_vector(DIM, 1)
    big = query_vector(BIG_DIM, 2)
    yield ["*", "LIMIT", "0", "0"]
    yield ["@tag:{blue}", "LIMIT", "0", "0"]
    yield ["@n:[100000000 400000000]", "LIMIT", "0", "0"]
    yield ["gamma", "LIMIT", "0", "0"]
    yield ["*=>[KNN 10 @v $b]", "PARAMS", "2", "b", b, "DIALECT", "2"]
    yield ["*=>[KNN 10 @v $b AS d]", "PARAMS", "2", "b", b, "WITHSCORES", "NOCONTENT", "DIALECT", "2"]
    yield ["*=>[KNN 12 @v $b AS d]", "PARAMS", "2", "b", b, "RETURN", "4", "d", "n", "AS", "num",
           "LIMIT", "3", "5", "DIALECT", "2"]
    yield ["(@tag:{red})=>[KNN 7 @v $b AS d]", "PARAMS", "2", "b", b, "SORTBY", "n", "DESC",
           "RETURN", "2", "tag", "d", "DIALECT", "2"]
    yield ["(@tag:{green} @n:[0 500000000])=>[KNN 5 @v $b]", "PARAMS", "2", "b", b, "RETURN", "1", "n",
           "DIALECT", "2"]
    yield ["@v:[VECTOR_RANGE 0.3 $b]=>{$YIELD_DISTANCE_AS: d}", "PARAMS", "2", "b", b,
           "RETURN", "1", "d", "LIMIT", "0", "1000", "DIALECT", "2"]
    yield ["@v:[VECTOR_RANGE 0.3 $b]", "PARAMS", "2", "b", b, "SORTBY", "n", "NOCONTENT",
           "LIMIT", "0", "1000", "DIALECT", "2"]
    yield ["*=>[KNN 5 @big $q AS s]", "PARAMS", "2", "q", big, "RETURN", "2", "s", "n", "DIALECT", "2"]
    for page in range(5):
        yield ["@tag:{red|green}", "SORTBY", "n", "LIMIT", str(page * 25), "25", "RETURN", "1", "n"]
    for page in range(3):
        yield ["*", "SORTBY", "txt", "DESC", "LIMIT", str(page * 10), "10", "RETURN", "1", "txt"]


def test_definitions_reach_every_node(world):
    cluster, _ = world
    masters = cluster.masters()
    assert len(masters) == 3 and len(cluster.replicas()) == 3
    # Through one master, seen on every node, replicas included.
    masters[1].client().execute_command("FT.CREATE", "other", "PREFIX", "1", "o:", "SCHEMA", "x", "TAG")
    masters[2].client().execute_command("FT.ALIASADD", "docs", "idx")
    for n in cluster.nodes:
        wait_for(f"definitions on {n.port}", lambda n=n: (
            sorted(n.client().execute_command("FT._LIST")) == [b"idx", b"other"]
            and n.client().ft("docs").info()["index_name"] == "idx"))
    masters[0].client().execute_command("FT.DROPINDEX", "other")
    masters[0].client().execute_command("FT.ALIASDEL", "docs")
    def alias_gone(n):
        try:
            n.client().ft("docs").info()
            return False
        except redis.ResponseError as e:
            return "Unknown index name" in str(e)

    for n in cluster.nodes:
        wait_for(f"drop on {n.port}", lambda n=n: n.client().execute_command("FT._LIST") == [b"idx"]
                 and alias_gone(n))


def test_dictionaries_synonyms_and_suggestions_on_a_cluster(world):
    """FT.DICTADD / DICTDEL and FT.SYNUPDATE sent to one master reach every node (replicas
    through their masters); suggestion keys live in their slots like any key."""
    cluster, _ = world
    masters = cluster.masters()
    masters[0].client().execute_command("FT.CREATE", "syn", "PREFIX", "1", "syn:", "SCHEMA",
                                        "t", "TEXT")
    masters[1].client().execute_command("FT.DICTADD", "cdict", "alpha", "beta", "gamma")
    masters[2].client().execute_command("FT.DICTDEL", "cdict", "beta")
    for n in cluster.nodes:
        wait_for(f"syn on {n.port}", lambda n=n: b"syn" in n.client().execute_command("FT._LIST"))
    masters[2].client().execute_command("FT.SYNUPDATE", "syn", "g1", "SKIPINITIALSCAN", "hi",
                                        "hello")
    for n in cluster.nodes:
        wait_for(f"dictionary on {n.port}", lambda n=n: n.client().execute_command(
            "FT.DICTDUMP", "cdict") == [b"alpha", b"gamma"])
        wait_for(f"synonyms on {n.port}", lambda n=n: sorted(n.client().execute_command(
            "FT.SYNDUMP", "syn")[::2]) == [b"hello", b"hi"])
    # The cluster client finds the key through COMMAND GETKEYS (the commands' key specs).
    rc = cluster.client()
    rc.execute_command("FT.SUGADD", "ac", "hello", 2)
    rc.execute_command("FT.SUGADD", "ac", "help", 1)
    assert rc.execute_command("FT.SUGGET", "ac", "hel") == [b"hello", b"help"]
    assert rc.execute_command("FT.SUGLEN", "ac") == 2
    masters[0].client().execute_command("FT.DROPINDEX", "syn")
    for n in cluster.nodes:
        wait_for(f"syn dropped on {n.port}",
                 lambda n=n: b"syn" not in n.client().execute_command("FT._LIST"))


def test_a_master_added_later_gets_the_definitions(world):
    cluster, _ = world
    node = Node()
    cluster.nodes.append(node)
    out = subprocess.run(
        ["redis-cli", "--cluster", "add-node", f"127.0.0.1:{node.port}",
         f"127.0.0.1:{cluster.masters()[0].port}"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    # No DDL was ever sent to it: the catalog digests bring the index over.
    wait_for("idx on the new node", lambda: node.client().execute_command("FT._LIST") == [b"idx"])
    cluster.wait_ok()
    # It serves no slots, and still answers for the whole cluster. Until every shard knows
    # the new node (gossip), a shard cannot send its answer back: the query then fails naming
    # that shard, and is never answered short.
    def whole():
        try:
            reply = node.client().execute_command("FT.SEARCH", "idx", "*", "LIMIT", "0", "0",
                                                  "TIMEOUT", "1000")
        except redis.ResponseError as e:
            assert str(e).startswith("shard "), e
            return False
        assert reply == [N], reply
        return True

    wait_for("a whole answer from the new node", whole, timeout=30.0)


def test_info_counts_the_whole_cluster(world):
    cluster, _ = world
    for n in cluster.nodes:
        assert n.client().ft("idx").info()["num_docs"] == str(N) or \
            int(n.client().ft("idx").info()["num_docs"]) == N


def test_commands_without_fan_out_are_refused_not_partial(world):
    """FT.TAGVALS, FT.SPELLCHECK and FT.PROFILE read one node's index: on several masters that
    would be part of the answer, so they are errors there (whole on one server)."""
    cluster, single = world
    for cmd in (["FT.TAGVALS", "idx", "tag"], ["FT.SPELLCHECK", "idx", "helo"],
                ["FT.PROFILE", "idx", "SEARCH", "QUERY", "*"]):
        for n in cluster.masters():
            with pytest.raises(redis.ResponseError, match="not supported on a cluster of several masters"):
                n.client().execute_command(*cmd)
        redis.Redis(port=single.port).execute_command(*cmd)


@pytest.mark.parametrize("protocol", [2, 3])
def test_every_node_answers_as_one_server(world, protocol):
    cluster, single = world
    one = redis.Redis(port=single.port, protocol=protocol)
    nodes = [n.client(protocol=protocol) for n in cluster.nodes]
    checked = 0
    for q in queries():
        want = normal(one.execute_command("FT.SEARCH", "idx", *q))
        for node in nodes:
            got = normal(node.execute_command("FT.SEARCH", "idx", *q))
            assert got == want, (q[0], q[-6:])
        checked += 1
    # The KNN queries returned something, not two empty answers.
    knn = one.execute_command("FT.SEARCH", "idx", "*=>[KNN 10 @v $b]", "PARAMS", "2", "b",
                              query_vector(DIM, 1), "NOCONTENT", "DIALECT", "2")
    total = knn[0] if protocol == 2 else knn[b"total_results"]
    assert total == 10 and checked == 20


def test_maxsearchresults_bounds_the_users_limit_not_the_shards(world):
    """The coordinator asks each shard for `offset + count` documents: MAXSEARCHRESULTS bounds
    the client's LIMIT only, with RediSearch's errors (compared with RediSearch itself)."""
    cluster, single = world
    pages = [("95", "10"), ("0", "100"), ("100", "5"), ("0", "101"), ("101", "10"), ("101", "0"),
             ("500", "500")]
    anchor = Anchor()
    try:
        a = anchor.client()
        a.execute_command("FT.CREATE", "idx", "PREFIX", "1", "doc:", "SCHEMA", "n", "NUMERIC",
                          "SORTABLE")
        a.execute_command("FT.CONFIG", "SET", "MAXSEARCHRESULTS", "100")
        expected = {}
        for offset, count in pages:
            try:
                a.execute_command("FT.SEARCH", "idx", "*", "LIMIT", offset, count)
                expected[(offset, count)] = None
            except redis.ResponseError as e:
                expected[(offset, count)] = str(e)
    finally:
        anchor.stop()
    assert expected[("95", "10")] is None and expected[("0", "101")] is not None
    servers = [n.client() for n in cluster.live()] + [redis.Redis(port=single.port)]
    for c in servers:
        c.execute_command("FT.CONFIG", "SET", "MAXSEARCHRESULTS", "100")
    try:
        one = servers[-1]
        for (offset, count), error in expected.items():
            q = ["FT.SEARCH", "idx", "*", "SORTBY", "n", "LIMIT", offset, count, "RETURN", "1", "n"]
            if error is None:
                want = one.execute_command(*q)
                assert want[0] == N and len(want) == 1 + 2 * min(int(count), max(0, N - int(offset)))
                for c in servers[:-1]:
                    assert c.execute_command(*q) == want, (offset, count)
            else:
                for c in servers:
                    with pytest.raises(redis.ResponseError) as e:
                        c.execute_command(*q)
                    assert str(e.value) == error, (offset, count)
    finally:
        for c in servers:
            c.execute_command("FT.CONFIG", "SET", "MAXSEARCHRESULTS", "1000000")


def test_a_transaction_searches_only_an_index_whose_documents_live_on_its_node(world):
    """In MULTI (as in a script or a DAG's AI.FTSEARCH) a node cannot wait for the others: it
    searches an index whose prefixes carry a hash tag of its own slots, and refuses others."""
    cluster, _ = world
    rc = cluster.client()
    rc.execute_command("FT.CREATE", "pinned", "PREFIX", "1", "{pin}d:", "SCHEMA", "t", "TAG")
    for n in cluster.nodes:
        wait_for(f"pinned on {n.port}",
                 lambda n=n: b"pinned" in n.client().execute_command("FT._LIST"))
    for i in range(5):
        rc.hset(f"{{pin}}d:{i}", "t", "x")
    home = rc.get_node_from_key("{pin}").port
    masters = cluster.masters()
    owner = next(m for m in masters if m.port == home)
    other = next(m for m in masters if m.port != home)

    def in_multi(node, index):
        pipe = node.client().pipeline(transaction=True)
        pipe.execute_command("FT.SEARCH", index, "*", "NOCONTENT")
        return pipe.execute(raise_on_error=False)[0]

    got = in_multi(owner, "pinned")
    assert got[0] == 5 and sorted(got[1:]) == [f"{{pin}}d:{i}".encode() for i in range(5)]
    for node, index in ((other, "pinned"), (owner, "idx")):
        err = in_multi(node, index)
        assert isinstance(err, redis.ResponseError) and "waits for every shard" in str(err), err
    masters[0].client().execute_command("FT.DROPINDEX", "pinned")
    for n in cluster.nodes:
        wait_for(f"pinned dropped on {n.port}",
                 lambda n=n: b"pinned" not in n.client().execute_command("FT._LIST"))


def test_acl_user_sees_only_its_keys(world):
    cluster, single = world
    rule = ["ACL", "SETUSER", "reader", "on", "nopass", "~doc:1*", "+@all"]
    for n in cluster.nodes:
        n.client().execute_command(*rule)
    redis.Redis(port=single.port).execute_command(*rule)
    q = ["FT.SEARCH", "idx", "*", "LIMIT", "0", "0"]
    want = redis.Redis(port=single.port, username="reader").execute_command(*q)
    assert 0 < want[0] < N
    for n in cluster.nodes:
        assert n.client(username="reader").execute_command(*q) == want
    # A user one shard does not know fails the search there, rather than see everything.
    cluster.masters()[0].client().execute_command("ACL", "DELUSER", "reader")
    with pytest.raises(redis.ResponseError, match="shard"):
        cluster.masters()[1].client(username="reader").execute_command(*q)


def test_redis_py_cluster_client_gets_whole_answers(world):
    from redis.commands.search.query import Query

    cluster, single = world
    rc = cluster.client()
    assert rc.ft("idx").search(Query("*").paging(0, 0)).total == N
    q = Query("*=>[KNN 5 @v $b AS d]").sort_by("d").return_fields("d", "n").dialect(2)
    got = rc.ft("idx").search(q, query_params={"b": query_vector(DIM, 3)})
    want = redis.Redis(port=single.port).ft("idx").search(q, query_params={"b": query_vector(DIM, 3)})
    assert [(d.id, d.d, d.n) for d in got.docs] == [(d.id, d.d, d.n) for d in want.docs]
    assert len(got.docs) == 5


def test_ai_commands_follow_hash_tags(world):
    cluster, _ = world
    rc = cluster.client()
    rc.execute_command("AI.TENSORSET", "{user1}:x", "FLOAT", "2", "VALUES", "1", "2")
    got = rc.execute_command("AI.DAGEXECUTE", "LOAD", "1", "{user1}:x", "PERSIST", "1", "{user1}:y",
                             "|>", "AI.TENSORSET", "{user1}:y", "FLOAT", "1", "VALUES", "3",
                             "|>", "AI.TENSORGET", "{user1}:x", "VALUES")
    assert got[1] == [b"1", b"2"]
    assert rc.execute_command("AI.TENSORGET", "{user1}:y", "VALUES") == [b"3"]
    # Keys in two slots: the server refuses before anything runs, wherever it is sent.
    for n in cluster.masters():
        with pytest.raises((redis.exceptions.ClusterCrossSlotError, redis.exceptions.MovedError)):
            n.client().execute_command("AI.DAGEXECUTE", "LOAD", "1", "{user1}:x", "PERSIST", "1",
                                       "{user2}:y", "|>", "AI.TENSORSET", "{user2}:y", "FLOAT", "1",
                                       "VALUES", "3")
    # A read-only DAG on the replica of the slot's master, after READONLY.
    answered = 0
    for n in cluster.replicas():
        c = n.client(single_connection_client=True)
        c.execute_command("READONLY")
        try:
            got = c.execute_command("AI.DAGEXECUTE_RO", "LOAD", "1", "{user1}:x", "|>",
                                    "AI.TENSORGET", "{user1}:x", "VALUES")
            assert got == [[b"1", b"2"]]
            answered += 1
        except redis.exceptions.MovedError:
            pass
    assert answered == 1


def local_docs(node):
    """The documents this node's own index holds (FT.INFO in a transaction answers locally)."""
    pipe = node.client().pipeline(transaction=True)
    pipe.execute_command("FT.INFO", "idx")
    info = pipe.execute()[0]
    return int(dict(zip(info[::2], info[1::2]))[b"num_docs"])


def total(node, *extra):
    return node.client().execute_command("FT.SEARCH", "idx", "*", "LIMIT", "0", "0", *extra)[0]


def test_keys_in_flight_are_counted_once(world):
    """A slot moved by hand, its keys copied to the target before the source lets them go:
    while both hold them, only the slot's owner answers for them."""
    cluster, single = world
    masters = cluster.masters()
    src, dst = masters[0], masters[1]
    sc, dc = src.client(), dst.client()
    src_id = sc.execute_command("CLUSTER", "MYID").decode()
    dst_id = dc.execute_command("CLUSTER", "MYID").decode()
    slot = next(
        s for a, b, *rest in sc.execute_command("CLUSTER", "SLOTS")
        if rest[0][2].decode() == src_id
        for s in range(a, b + 1)
        if len([k for k in sc.execute_command("CLUSTER", "GETKEYSINSLOT", s, 1000)
                if k.startswith(b"doc:")]) >= 2)
    keys = sc.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
    docs = [k for k in keys if k.startswith(b"doc:")]
    before_src, before_dst = local_docs(src), local_docs(dst)
    q = ["*", "SORTBY", "n", "LIMIT", "0", str(N), "NOCONTENT"]
    want = redis.Redis(port=single.port).execute_command("FT.SEARCH", "idx", *q)
    dc.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    sc.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    try:
        sc.execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "COPY", "KEYS", *keys)
        # Both shards index the keys now; the cluster counts them once.
        assert local_docs(dst) == before_dst + len(docs)
        assert local_docs(src) == before_src
        for n in cluster.live():
            assert n.client().execute_command("FT.SEARCH", "idx", *q) == want
            assert int(n.client().ft("idx").info()["num_docs"]) == N
        # The source lets them go before the slot is handed over: for that moment the target
        # holds them for a slot it does not own yet, and they are missed, never doubled.
        sc.delete(*keys)
        assert local_docs(src) == before_src - len(docs)
        for n in cluster.live():
            assert total(n) == N - len(docs)
    finally:
        for m in (dst, src, *masters[2:]):
            m.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    cluster.wait_ok()
    # The documents followed their keys.
    assert local_docs(dst) == before_dst + len(docs)
    wait_for("whole again", lambda: all(total(n) == N for n in cluster.live()))
    for n in cluster.live():
        assert n.client().execute_command("FT.SEARCH", "idx", *q) == want


def test_documents_follow_their_keys_in_a_reshard(world):
    cluster, single = world
    masters = cluster.masters()
    ids = {n.port: n.client().execute_command("CLUSTER", "MYID").decode() for n in masters}
    src, dst = masters[0], masters[1]
    log = tempfile.TemporaryFile("w+")
    reshard = subprocess.Popen(
        ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{src.port}",
         "--cluster-from", ids[src.port], "--cluster-to", ids[dst.port],
         "--cluster-slots", "700", "--cluster-yes"],
        # A file, not a pipe: nothing reads its output until it ends.
        stdout=log, stderr=subprocess.STDOUT, text=True)
    # Searches while slots move: a key in flight may be missed for a moment, never counted
    # twice.
    seen = []
    while reshard.poll() is None:
        for n in masters:
            try:
                seen.append(total(n, "TIMEOUT", "2000"))
            except redis.ResponseError as e:
                assert "shard" in str(e) or "CLUSTERDOWN" in str(e), e
        # Paced: Valkey 8 waits for the replicas to take each CLUSTER SETSLOT, and gives up
        # (NOREPLICAS) when a saturated machine keeps them from answering in time.
        time.sleep(0.05)
    log.seek(0)
    assert reshard.wait() == 0, log.read()[-2000:]
    assert seen and max(seen) <= N, max(seen)
    cluster.wait_ok()
    b = query_vector(DIM, 4)
    checks = [["*", "LIMIT", "0", "0"],
              ["(@tag:{red})=>[KNN 10 @v $b]", "PARAMS", "2", "b", b, "RETURN", "1", "n", "DIALECT", "2"],
              ["@tag:{green}", "SORTBY", "n", "LIMIT", "0", "50", "NOCONTENT"]]
    one = redis.Redis(port=single.port)
    for q in checks:
        want = one.execute_command("FT.SEARCH", "idx", *q)
        for n in cluster.live():
            # Each moved document is indexed on its new shard and gone from the old one:
            # counted once, found once.
            assert normal(n.client().execute_command("FT.SEARCH", "idx", *q)) == normal(want), q[0]


def test_a_shard_that_stops_answering_is_named(world):
    cluster, _ = world
    masters = cluster.masters()
    stopped, asked = masters[1], masters[0]
    # No TIMEOUT in the query: the module config decides.
    asked.client().config_set("ai.search_timeout", "1500")
    os.kill(stopped.pid, signal.SIGSTOP)
    try:
        outcome = {}

        def ask():
            started = time.time()
            try:
                outcome["reply"] = asked.client().execute_command(
                    "FT.SEARCH", "idx", "*", "LIMIT", "0", "0")
            except redis.ResponseError as e:
                outcome["error"] = str(e)
            outcome["took"] = time.time() - started

        t = threading.Thread(target=ask)
        t.start()
        # While the search waits, the coordinator serves other clients: its main thread never
        # waits for a shard.
        time.sleep(0.2)
        pings = []
        while t.is_alive() and len(pings) < 10:
            started = time.time()
            assert asked.client().ping()
            pings.append(time.time() - started)
            time.sleep(0.05)
        t.join()
        assert len(pings) >= 5 and max(pings) < 0.5, pings
        assert "reply" not in outcome, outcome
        assert f":{stopped.port}" in outcome["error"], outcome
        assert "did not answer within 1500 ms" in outcome["error"], outcome
        assert 1.4 < outcome["took"] < 5, outcome
        # The query's TIMEOUT wins over the config.
        with pytest.raises(redis.ResponseError, match=f":{stopped.port}.*within 300 ms"):
            asked.client().execute_command("FT.SEARCH", "idx", "*", "TIMEOUT", "300")
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
        asked.client().config_set("ai.search_timeout", "5000")
    wait_for("whole again", lambda: asked.client().execute_command(
        "FT.SEARCH", "idx", "*", "LIMIT", "0", "0") == [N])


def test_failover_never_gives_a_short_answer(world):
    cluster, single = world
    masters = cluster.masters()
    victim, asked = masters[2], masters[0]
    q = ["FT.SEARCH", "idx", "*", "LIMIT", "0", "0", "TIMEOUT", "500"]
    cluster.kill(victim)
    answers = set()
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            got = asked.client().execute_command(*q)
            assert got == [N], got
            answers.add("whole")
            if len(cluster.masters()) == 3:
                break
        except redis.ResponseError as e:
            answers.add("error")
            assert "shard" in str(e) or "CLUSTERDOWN" in str(e), e
        time.sleep(0.1)
    cluster.wait_ok()
    assert "error" in answers
    # The promoted replica has the definitions and the documents: every search is whole again.
    b = query_vector(DIM, 1)
    knn = ["FT.SEARCH", "idx", "*=>[KNN 10 @v $b]", "PARAMS", "2", "b", b, "DIALECT", "2"]
    want = normal(redis.Redis(port=single.port).execute_command(*knn))
    for n in cluster.live():
        assert n.client().execute_command(*q) == [N]
        assert normal(n.client().execute_command(*knn)) == want
