"""RedisVL 0.28 against the module on Redis 7.0: SearchIndex (create, load, the query classes,
info, from_existing, clear, delete), SemanticCache, MessageHistory and SemanticMessageHistory.

The embedding model is a deterministic toy (hashed bag of words) behind CustomTextVectorizer:
nothing is downloaded.
"""

import hashlib
import re
import time

import numpy as np
import pytest
import redis
from redisvl.extensions.cache.llm import SemanticCache
from redisvl.extensions.message_history import MessageHistory, SemanticMessageHistory
from redisvl.index import SearchIndex
from redisvl.query import CountQuery, FilterQuery, RangeQuery, VectorQuery, VectorRangeQuery
from redisvl.query.filter import Num, Tag, Text
from redisvl.utils.vectorize import CustomTextVectorizer
from search_util import distances, ft_list, knn

DIM = 8
N = 60
GENRES = ["scifi", "drama", "comedy"]
NOUNS = ["dragon", "robot", "castle", "ocean", "forest", "wizard"]
TOL = dict(rel=1e-5, abs=1e-5)


def schema(name="rvl_docs", algorithm="hnsw", metric="cosine"):
    attrs = {"dims": DIM, "distance_metric": metric, "algorithm": algorithm, "datatype": "float32"}
    if algorithm == "hnsw":
        attrs.update({"m": 16, "ef_construction": 200})
    return {
        "index": {"name": name, "prefix": "rvl", "storage_type": "hash"},
        "fields": [
            {"name": "content", "type": "text"},
            {"name": "genre", "type": "tag"},
            {"name": "year", "type": "numeric"},
            {"name": "embedding", "type": "vector", "attrs": attrs},
        ],
    }


def corpus(seed=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, DIM)).astype(np.float32)
    data = [{
        "doc_id": str(i),
        "content": f"a tale about the {NOUNS[i % 6]} and the {NOUNS[(i // 4) % 6]}",
        "genre": GENRES[i % 3],
        "year": 1990 + (i * 7) % 31,
        "embedding": X[i].tobytes(),
    } for i in range(N)]
    return X, data


@pytest.fixture(params=["hnsw", "flat"])
def index(server, request):
    idx = SearchIndex.from_dict(schema(algorithm=request.param), redis_url=server.url)
    idx.create(overwrite=True)
    X, data = corpus()
    keys = idx.load(data, id_field="doc_id")
    assert keys == [f"rvl:{i}" for i in range(N)]
    yield idx, X, data
    idx.disconnect()


def rows(data, pred):
    return [i for i, d in enumerate(data) if pred(d)]


def expect(X, q, metric, k, subset):
    return knn(X[subset], q, metric, k, ids=[f"rvl:{i}" for i in subset])


def test_create_exists_listall_info(index):
    idx, _, _ = index
    assert idx.exists()
    assert "rvl_docs" in idx.listall()
    info = idx.info()
    assert info["index_name"] == "rvl_docs"
    assert isinstance(info["num_docs"], int) and info["num_docs"] == N
    assert idx.fetch("3")["content"] == "a tale about the ocean and the dragon"
    # create() again without overwrite leaves the index and its documents alone
    idx.create(overwrite=False)
    assert idx.info()["num_docs"] == N


def test_vector_query_with_tag_filter(index):
    idx, X, data = index
    q = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    query = VectorQuery(vector=q.tolist(), vector_field_name="embedding",
                        return_fields=["content", "genre", "year"], num_results=5,
                        filter_expression=Tag("genre") == "scifi")
    res = idx.query(query)
    want = expect(X, q, "COSINE", 5, rows(data, lambda d: d["genre"] == "scifi"))
    assert [r["id"] for r in res] == [k for k, _ in want]
    for r, (key, dist) in zip(res, want):
        i = int(key.split(":")[1])
        assert float(r["vector_distance"]) == pytest.approx(dist, **TOL)
        assert (r["content"], r["genre"], int(r["year"])) == (
            data[i]["content"], "scifi", data[i]["year"])
    # no filter, EF_RUNTIME given (RedisVL refuses it for FLAT), normalised distance
    hnsw = idx.schema.fields["embedding"].attrs.algorithm.lower() == "hnsw"
    query = VectorQuery(vector=q.tolist(), vector_field_name="embedding", return_fields=["content"],
                        num_results=7, ef_runtime=50 if hnsw else None, normalize_vector_distance=True)
    res = idx.query(query)
    want = expect(X, q, "COSINE", 7, list(range(N)))
    assert [r["id"] for r in res] == [k for k, _ in want]
    for r, (_, dist) in zip(res, want):
        assert float(r["vector_distance"]) == pytest.approx((2 - dist) / 2, **TOL)


def test_vector_query_combined_filters(index):
    idx, X, data = index
    q = np.random.default_rng(2).standard_normal(DIM).astype(np.float32)
    flt = (Tag("genre") == ["drama", "comedy"]) & (Num("year") >= 2000) & (Text("content") != "dragon")
    res = idx.query(VectorQuery(vector=q.tolist(), vector_field_name="embedding",
                                return_fields=["genre", "year"], num_results=6,
                                filter_expression=flt))
    subset = rows(data, lambda d: d["genre"] in ("drama", "comedy") and d["year"] >= 2000
                  and "dragon" not in d["content"].split())
    assert len(subset) > 6
    want = expect(X, q, "COSINE", 6, subset)
    assert [r["id"] for r in res] == [k for k, _ in want]


@pytest.mark.parametrize("cls", [RangeQuery, VectorRangeQuery])
def test_range_query(index, cls):
    idx, X, data = index
    q = np.random.default_rng(3).standard_normal(DIM).astype(np.float32)
    d = distances(X, q, "COSINE")
    srt = np.sort(d)
    thr = float((srt[7] + srt[8]) / 2)
    res = idx.query(cls(vector=q.tolist(), vector_field_name="embedding", return_fields=["content"],
                        distance_threshold=thr, num_results=20))
    want = expect(X, q, "COSINE", 8, list(range(N)))
    assert sorted(r["id"] for r in res) == sorted(k for k, _ in want)
    for r in res:
        i = int(r["id"].split(":")[1])
        assert float(r["vector_distance"]) == pytest.approx(d[i], **TOL)
        assert r["content"] == data[i]["content"]
    # with a filter
    res = idx.query(cls(vector=q.tolist(), vector_field_name="embedding", return_fields=["genre"],
                        distance_threshold=thr, num_results=20, filter_expression=Tag("genre") == "drama"))
    assert sorted(r["id"] for r in res) == sorted(
        f"rvl:{i}" for i in range(N) if d[i] < thr and data[i]["genre"] == "drama")
    assert all(r["genre"] == "drama" for r in res)


def test_filter_and_count_queries(index):
    idx, _, data = index
    flt = (Num("year") >= 2000) & (Tag("genre") == "drama")
    res = idx.query(FilterQuery(filter_expression=flt, return_fields=["year", "genre"], num_results=100,
                                sort_by=("year", "DESC")))
    subset = rows(data, lambda d: d["year"] >= 2000 and d["genre"] == "drama")
    assert sorted(r["id"] for r in res) == sorted(f"rvl:{i}" for i in subset)
    assert [int(r["year"]) for r in res] == sorted((data[i]["year"] for i in subset), reverse=True)
    assert idx.query(CountQuery(filter_expression=Tag("genre") == "comedy")) == N // 3
    assert idx.query(CountQuery(filter_expression=Text("content") % "dragon")) == len(
        rows(data, lambda d: "dragon" in d["content"].split()))
    assert idx.query(CountQuery()) == N
    # pagination walks every match exactly once
    pages = list(idx.paginate(FilterQuery(filter_expression=Tag("genre") == "scifi",
                                          return_fields=["genre"], sort_by="year"), page_size=7))
    ids = [r["id"] for page in pages for r in page]
    assert sorted(ids) == sorted(f"rvl:{i}" for i in rows(data, lambda d: d["genre"] == "scifi"))
    assert len(ids) == len(set(ids))


def test_batch_query(index):
    idx, X, data = index
    qs = np.random.default_rng(4).standard_normal((3, DIM)).astype(np.float32)
    results = idx.batch_query([VectorQuery(vector=q.tolist(), vector_field_name="embedding",
                                           num_results=4) for q in qs])
    for q, res in zip(qs, results):
        assert [r["id"] for r in res] == [k for k, _ in expect(X, q, "COSINE", 4, list(range(N)))]


def test_from_existing_round_trips_the_schema(index, server):
    idx, _, _ = index
    client = redis.Redis.from_url(server.url)
    other = SearchIndex.from_existing("rvl_docs", redis_client=client)
    assert other.schema.to_dict() == idx.schema.to_dict()


def test_l2_and_ip_indexes(server):
    X, data = corpus(9)
    q = np.random.default_rng(10).standard_normal(DIM).astype(np.float32)
    for metric in ("l2", "ip"):
        idx = SearchIndex.from_dict(schema(name=f"rvl_{metric}", metric=metric), redis_url=server.url)
        idx.create(overwrite=True, drop=True)
        idx.load(data, id_field="doc_id")
        res = idx.query(VectorQuery(vector=q.tolist(), vector_field_name="embedding", num_results=5))
        want = expect(X, q, metric.upper(), 5, list(range(N)))
        assert [r["id"] for r in res] == [k for k, _ in want]
        for r, (_, dist) in zip(res, want):
            assert float(r["vector_distance"]) == pytest.approx(dist, **TOL)
        assert SearchIndex.from_existing(f"rvl_{metric}", redis_url=server.url).schema.to_dict() \
            == idx.schema.to_dict()


def test_clear_and_delete(index, server):
    idx, _, _ = index
    r = redis.Redis.from_url(server.url)
    assert idx.clear() == N
    assert idx.info()["num_docs"] == 0
    assert idx.query(CountQuery()) == 0
    assert r.exists(*[f"rvl:{i}" for i in range(N)]) == 0
    X, data = corpus()
    idx.load(data, id_field="doc_id")
    assert idx.query(CountQuery()) == N
    idx.delete(drop=True)
    assert not idx.exists()
    assert "rvl_docs" not in ft_list(r)
    assert r.exists(*[f"rvl:{i}" for i in range(N)]) == 0


def test_load_with_ttl_expires_documents(server):
    idx = SearchIndex.from_dict(schema(), redis_url=server.url)
    idx.create(overwrite=True)
    X, data = corpus()
    idx.load(data[:10], id_field="doc_id", ttl=1)
    idx.load(data[10:], id_field="doc_id")
    assert idx.query(CountQuery()) == N
    time.sleep(1.6)
    assert idx.query(CountQuery()) == N - 10
    q = X[0]  # its own doc expired
    res = idx.query(VectorQuery(vector=q.tolist(), vector_field_name="embedding", num_results=5))
    assert all(int(r["id"].split(":")[1]) >= 10 for r in res)
    assert len(res) == 5


# --- SemanticCache, MessageHistory ------------------------------------------------------------

EMB_DIM = 64


def toy_embed(text):
    """Deterministic hashed bag of words, L2-normalised, as a list of Python floats."""
    v = np.zeros(EMB_DIM)
    for w in re.findall(r"[a-z]+", text.lower()):
        v[int(hashlib.md5(w.encode()).hexdigest(), 16) % EMB_DIM] += 1.0
    n = np.linalg.norm(v)
    v = v / n if n else np.full(EMB_DIM, EMB_DIM ** -0.5)
    return [float(x) for x in v]


def cos_dist(a, b):
    return 1.0 - float(np.dot(toy_embed(a), toy_embed(b)))


@pytest.fixture
def vectorizer():
    with pytest.warns(Warning):  # CustomTextVectorizer is a deprecated alias of CustomVectorizer
        return CustomTextVectorizer(embed=toy_embed)


FRANCE = "What is the capital of France?"
BREAD = "How do I bake sourdough bread at home?"


def test_semantic_cache(server, vectorizer):
    assert cos_dist(FRANCE, BREAD) > 0.5  # the toy model tells them apart
    fields = [{"name": "user", "type": "tag"}]
    cache = SemanticCache(name="llmcache", vectorizer=vectorizer, redis_url=server.url,
                          distance_threshold=0.1, filterable_fields=fields)
    key = cache.store(prompt=FRANCE, response="Paris", metadata={"source": "atlas"},
                      filters={"user": "alice"})
    hits = cache.check(prompt=FRANCE)
    assert len(hits) == 1
    assert hits[0]["response"] == "Paris" and hits[0]["prompt"] == FRANCE
    assert hits[0]["metadata"] == {"source": "atlas"}
    assert hits[0]["key"] == key
    assert float(hits[0]["vector_distance"]) == pytest.approx(0.0, abs=1e-5)
    assert cache.check(prompt="what is the CAPITAL of france") != []  # same words, same vector
    assert cache.check(prompt=BREAD) == []
    assert cache.check(prompt=FRANCE, filter_expression=Tag("user") == "alice") != []
    assert cache.check(prompt=FRANCE, filter_expression=Tag("user") == "bob") == []

    # an application restart: attach to the existing index without overwriting
    again = SemanticCache(name="llmcache", vectorizer=vectorizer, redis_url=server.url,
                          distance_threshold=0.1, filterable_fields=fields, overwrite=False)
    assert again.check(prompt=FRANCE)[0]["response"] == "Paris"
    # a schema that really differs is refused
    with pytest.raises(ValueError, match="does not match"):
        SemanticCache(name="llmcache", vectorizer=vectorizer, redis_url=server.url, overwrite=False)

    # per-entry TTL
    again.store(prompt=BREAD, response="Slowly.", ttl=1)
    assert again.check(prompt=BREAD)[0]["response"] == "Slowly."
    time.sleep(1.6)
    assert again.check(prompt=BREAD) == []
    # drop and clear
    again.drop(keys=[key])
    assert again.check(prompt=FRANCE) == []
    again.store(prompt=FRANCE, response="Paris")
    assert again.check(prompt=FRANCE) != []
    again.clear()
    assert again.check(prompt=FRANCE) == []
    again.delete()
    assert "llmcache" not in ft_list(redis.Redis.from_url(server.url))


def test_message_history(server):
    history = MessageHistory(name="chat", session_tag="s1", redis_url=server.url)
    msgs = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me about dragons"},
        {"role": "assistant", "content": "Dragons are mythical."},
    ]
    # one batch: the timestamps differ by microseconds (NUMERIC must keep f64 precision to sort)
    history.add_messages(msgs)
    history.add_messages([{"role": "user", "content": "other session"}], session_tag="s2")
    assert history.count() == 5
    assert history.count(session_tag="s2") == 1
    recent = history.get_recent(top_k=3)
    assert [(m["role"], m["content"]) for m in recent] == [(m["role"], m["content"]) for m in msgs[2:]]
    assert [m["content"] for m in history.messages] == [m["content"] for m in msgs]
    assert [m["content"] for m in history.get_recent(top_k=10, role="user")] == ["Hi", "Tell me about dragons"]
    history.drop()  # the last message
    assert history.count() == 4
    assert history.get_recent(top_k=1)[0]["content"] == "Tell me about dragons"
    history.clear()
    assert history.count() == 0
    # re-attaching to the existing index works
    MessageHistory(name="chat", session_tag="s1", redis_url=server.url).add_message(
        {"role": "user", "content": "back"})
    assert history.count() == 1


def test_semantic_message_history(server, vectorizer):
    history = SemanticMessageHistory(name="schat", session_tag="s1", vectorizer=vectorizer,
                                     redis_url=server.url, distance_threshold=0.5)
    contents = ["The capital of France is Paris.", "Sourdough bread needs a starter.",
                "Dragons are mythical creatures."]
    prompt = "capital of France"
    near = [c for c in contents if cos_dist(prompt, c) < 0.5]
    assert near == [contents[0]]  # the toy model's view, computed here
    for c in contents:
        history.add_message({"role": "assistant", "content": c})
    assert history.count() == 3
    relevant = history.get_relevant(prompt)
    assert [m["content"] for m in relevant] == near
    assert history.get_relevant("quantum chromodynamics lattice") == []
    assert [m["content"] for m in history.get_recent(top_k=2)] == contents[1:]
    history.delete()


def test_geo_schema_and_filters(server):
    """RedisVL's `geo` field and its Geo / GeoRadius filters, checked with Redis's own GEODIST."""
    from redisvl.query.filter import Geo, GeoRadius

    schema = {
        "index": {"name": "places", "prefix": "place", "storage_type": "hash"},
        "fields": [
            {"name": "name", "type": "tag"},
            {"name": "location", "type": "geo"},
            {"name": "embedding", "type": "vector",
             "attrs": {"dims": 2, "distance_metric": "l2", "algorithm": "flat", "datatype": "float32"}},
        ],
    }
    idx = SearchIndex.from_dict(schema, redis_url=server.url)
    idx.create(overwrite=True)
    rng = np.random.default_rng(3)
    points = [(float(-122.4 + rng.uniform(-1, 1)), float(37.7 + rng.uniform(-1, 1))) for _ in range(80)]
    data = [{"id": str(i), "name": f"n{i % 4}", "location": f"{lon},{lat}",
             "embedding": np.array([lon, lat], dtype=np.float32).tobytes()}
            for i, (lon, lat) in enumerate(points)]
    idx.load(data, id_field="id")
    r = redis.Redis(port=server.port)
    for i, (lon, lat) in enumerate(points):
        r.geoadd("oracle", (lon, lat, str(i)))
    r.geoadd("oracle", (-122.4194, 37.7749, "centre"))
    near = {str(i) for i in range(len(points)) if r.geodist("oracle", "centre", str(i), "km") <= 50}
    assert 0 < len(near) < len(points)
    flt = Geo("location") == GeoRadius(-122.4194, 37.7749, 50, "km")
    res = idx.query(FilterQuery(filter_expression=flt, return_fields=["name"], num_results=100))
    assert {doc["id"].split(":")[1] for doc in res} == near
    # The same filter on a KNN, and its negation.
    res = idx.query(VectorQuery(vector=[-122.4, 37.7], vector_field_name="embedding",
                                filter_expression=flt & (Tag("name") == "n1"), num_results=100))
    assert {doc["id"].split(":")[1] for doc in res} == {i for i in near if int(i) % 4 == 1}
    assert idx.query(CountQuery(filter_expression=Geo("location") != GeoRadius(
        -122.4194, 37.7749, 50, "km"))) == len(points) - len(near)
