"""The issue's data and clients on a Redis Cluster (3 masters, 3 replicas): 10,000 hashes spread
over every slot, written with redis-py's RedisCluster pipelines, answer KNN, filtered KNN,
VECTOR_RANGE, SORTBY + LIMIT paging and counts exactly as one server holding the same
documents; RedisVL's SearchIndex creates, loads and queries an index through RedisCluster; the
RAG and semantic-cache examples print on the cluster what they print on one server."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.cluster import RedisCluster
from redis.commands.search.field import NumericField, TagField, TextField, VectorField
from redis.commands.search.index_definition import IndexDefinition, IndexType

from cluster_harness import Cluster
from search_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
N = 10_000
DIM = 16
CATEGORIES = ["books", "music", "films", "games", "tools"]
SCHEMA = [
    TagField("category"),
    NumericField("price", sortable=True),
    TextField("title"),
    VectorField("embedding", "FLAT", {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "COSINE"}),
]
DEFINITION = IndexDefinition(prefix=["item:"], index_type=IndexType.HASH)


def documents():
    rng = np.random.default_rng(14)
    vecs = rng.random((N, DIM), dtype=np.float32)
    prices = rng.integers(0, 100_000, N)
    for i in range(N):
        yield f"item:{i}", {
            "category": CATEGORIES[i % 5],
            # Distinct prices: a SORTBY page is then the same whatever order ties come in.
            "price": int(prices[i]) * N + i,
            "title": f"item {i} {CATEGORIES[(i * 3) % 5]}",
            "embedding": vecs[i].tobytes(),
        }


@pytest.fixture(scope="module")
def world():
    cluster = Cluster(masters=3, replicas=1)
    single = RedisServer()
    try:
        rc = cluster.client()
        one = redis.Redis(port=single.port)
        rc.ft("items").create_index(SCHEMA, definition=DEFINITION)
        one.ft("items").create_index(SCHEMA, definition=DEFINITION)
        pipe = rc.pipeline(transaction=False)
        opipe = one.pipeline(transaction=False)
        for n, (key, doc) in enumerate(documents(), 1):
            pipe.hset(key, mapping=doc)
            opipe.hset(key, mapping=doc)
            if n % 2000 == 0:
                pipe.execute()
                opipe.execute()
        yield cluster, single
    finally:
        cluster.stop()
        single.stop()


def vec(seed):
    return np.random.default_rng(seed).random(DIM, dtype=np.float32).tobytes()


def test_the_documents_are_spread_over_every_master(world):
    cluster, _ = world
    sizes = [m.client().dbsize() for m in cluster.masters()]
    assert len(sizes) == 3 and sum(sizes) == N and min(sizes) > N // 5, sizes


def queries():
    for seed in range(3):
        b = vec(seed)
        yield ["*=>[KNN 10 @embedding $b AS d]", "PARAMS", "2", "b", b, "SORTBY", "d",
               "RETURN", "2", "d", "price", "DIALECT", "2"]
        yield ["*=>[KNN 100 @embedding $b AS d]", "PARAMS", "2", "b", b, "NOCONTENT",
               "LIMIT", "0", "100", "DIALECT", "2"]
        yield ["(@category:{music|games} @price:[0 400000000])=>[KNN 20 @embedding $b AS d]",
               "PARAMS", "2", "b", b, "RETURN", "3", "d", "category", "price", "DIALECT", "2"]
        yield ["@embedding:[VECTOR_RANGE 0.05 $b]=>{$YIELD_DISTANCE_AS: d}", "PARAMS", "2", "b", b,
               "SORTBY", "d", "RETURN", "1", "d", "LIMIT", "0", "1000", "DIALECT", "2"]
        yield ["@embedding:[VECTOR_RANGE 0.1 $b]", "PARAMS", "2", "b", b, "LIMIT", "0", "0",
               "DIALECT", "2"]
    yield ["*", "LIMIT", "0", "0"]
    for c in CATEGORIES:
        yield [f"@category:{{{c}}}", "LIMIT", "0", "0"]
    yield ["@title:films", "LIMIT", "0", "0"]
    yield ["@price:[100000000 300000000]", "LIMIT", "0", "0"]
    for page in range(0, 400, 80):
        yield ["@category:{books}", "SORTBY", "price", "LIMIT", str(page), "80", "RETURN", "1",
               "price"]
    for page in range(0, 150, 50):
        yield ["*", "SORTBY", "price", "DESC", "LIMIT", str(page), "50", "NOCONTENT"]


@pytest.mark.parametrize("protocol", [2, 3])
def test_searches_answer_as_one_server(world, protocol):
    cluster, single = world
    one = redis.Redis(port=single.port, protocol=protocol)
    # Through a master and a replica.
    nodes = [cluster.masters()[1].client(protocol=protocol),
             cluster.replicas()[0].client(protocol=protocol)]
    nonempty = 0
    for q in queries():
        want = one.execute_command("FT.SEARCH", "items", *q)
        total = want[0] if protocol == 2 else want[b"total_results"]
        nonempty += total > 0
        for node in nodes:
            assert node.execute_command("FT.SEARCH", "items", *q) == want, q[0]
    assert nonempty >= 25


def test_info_counts_every_document(world):
    cluster, _ = world
    assert int(cluster.client().ft("items").info()["num_docs"]) == N


def test_redisvl_search_index_on_the_cluster(world):
    from redisvl.index import SearchIndex
    from redisvl.query import CountQuery, FilterQuery, VectorQuery
    from redisvl.query.filter import Num, Tag

    cluster, single = world
    schema = {
        "index": {"name": "vl", "prefix": "vl", "storage_type": "hash"},
        "fields": [
            {"name": "user", "type": "tag"},
            {"name": "age", "type": "numeric"},
            {"name": "job", "type": "text"},
            {"name": "vec", "type": "vector",
             "attrs": {"dims": DIM, "algorithm": "flat", "distance_metric": "cosine",
                       "datatype": "float32"}},
        ],
    }
    rng = np.random.default_rng(3)
    data = [{"user": f"u{i % 7}", "age": int(i % 90), "job": ["engineer", "doctor", "chef"][i % 3],
             "vec": rng.random(DIM, dtype=np.float32).tobytes(), "id": str(i)} for i in range(600)]
    rc = cluster.client()
    on_cluster = SearchIndex.from_dict(schema, redis_client=rc)
    on_one = SearchIndex.from_dict(schema, redis_client=redis.Redis(port=single.port))
    for index in (on_cluster, on_one):
        index.create(overwrite=True)
        keys = index.load(data, id_field="id")
        assert len(keys) == 600
    # The keys landed on every master.
    assert all(m.client().keys("vl:*") for m in cluster.masters())
    assert on_cluster.exists()
    assert int(on_cluster.info()["num_docs"]) == 600
    q = vec(7)
    checks = [
        VectorQuery(q, "vec", return_fields=["user", "age"], num_results=10),
        VectorQuery(q, "vec", return_fields=["user", "age", "job"], num_results=15,
                    filter_expression=(Tag("user") == "u3") & (Num("age") > 20)),
        FilterQuery(Tag("user") == "u1", return_fields=["age"], num_results=200, sort_by="age"),
        CountQuery(Num("age") < 30),
    ]
    for query in checks:
        got = on_cluster.query(query)
        want = on_one.query(query)
        assert got == want, query
    assert len(on_cluster.query(checks[0])) == 10
    assert on_cluster.query(checks[3]) == sum(1 for d in data if d["age"] < 30)
    # Paging through a filtered result set, as RedisVL's paginate does.
    pages = [p for page in on_cluster.paginate(checks[2], page_size=25) for p in page]
    assert pages == on_one.query(FilterQuery(Tag("user") == "u1", return_fields=["age"],
                                             num_results=200, sort_by="age"))
    on_cluster.delete(drop=True)
    assert not any(m.client().keys("vl:*") for m in cluster.masters())


MODEL_DIR = Path(os.environ.get("EMBED_MODEL_DIR",
                                os.path.expanduser("~/.cache/redisai/models/all-minilm-l6-v2")))


@pytest.mark.parametrize("example", ["rag.py", "semantic_cache.py"])
def test_examples_answer_on_the_cluster_as_on_one_server(world, example):
    if not (MODEL_DIR / "model.onnx").is_file():
        pytest.skip(f"no embedding model in {MODEL_DIR} (make deps-embed)")
    cluster, _ = world
    single = RedisServer()

    def run(url, *cluster_flag):
        env = dict(os.environ, REDIS_URL=url, EMBED_MODEL_DIR=str(MODEL_DIR))
        env.pop("OPENAI_BASE_URL", None)
        env.pop("REDIS_CLUSTER", None)
        if cluster_flag:
            env["REDIS_CLUSTER"] = "1"
        out = subprocess.run([sys.executable, str(ROOT / "examples" / example)], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        return out.stdout

    try:
        want = run(single.url)
    finally:
        single.stop()
    got = run(f"redis://127.0.0.1:{cluster.masters()[0].port}/0", "cluster")
    assert got == want
    assert len(want.splitlines()) >= 4 and "done" in want
