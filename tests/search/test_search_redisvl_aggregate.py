"""RedisVL 0.28's FT.AGGREGATE users against the module on Redis 7.0, unchanged: the
SemanticRouter (route match, per-route distance thresholds, MIN / SUM / AVG aggregation),
AggregateHybridQuery (BM25STD text score + KNN similarity fused with APPLY, ADDSCORES,
SCORER) and MultiVectorQuery (two VECTOR_RANGE clauses, weighted distances). Each answer is
checked against numpy on the same vectors.
"""

import hashlib
import re

import numpy as np
import pytest
from redisvl.extensions.router import Route, SemanticRouter
from redisvl.extensions.router.schema import DistanceAggregationMethod, RoutingConfig
from redisvl.index import SearchIndex
from redisvl.query import AggregateHybridQuery, MultiVectorQuery
from redisvl.query.aggregate import Vector
from redisvl.utils.vectorize import CustomTextVectorizer
from anchor import Anchor
from test_search_json import start, stop

EMB_DIM = 64


def toy_embed(text):
    """Deterministic hashed bag of words, L2-normalised (nothing is downloaded)."""
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
    with pytest.warns(Warning):  # CustomTextVectorizer is a deprecated alias
        return CustomTextVectorizer(embed=toy_embed)


GREETING = ["hello there", "hi how are you", "good morning friend", "hey hello"]
FAREWELL = ["goodbye now", "see you later", "bye bye friend", "farewell my friend"]


def expected(query, routes, method):
    """Route name → aggregated distance over the references within the largest threshold."""
    limit = max(r.distance_threshold for r in routes)
    out = {}
    for r in routes:
        ds = [cos_dist(query, ref) for ref in r.references]
        ds = [d for d in ds if d <= limit]
        if not ds:
            continue
        agg = {"min": min, "sum": sum, "avg": lambda x: sum(x) / len(x)}[method](ds)
        if agg < r.distance_threshold:
            out[r.name] = agg
    return out


@pytest.fixture
def jserver():
    """The router keeps its configuration in a JSON document: RedisJSON beside the module."""
    s = start()
    yield s
    stop(s)


def test_semantic_router(jserver, vectorizer):
    server = jserver
    routes = [Route(name="greeting", references=GREETING, distance_threshold=0.7),
              Route(name="farewell", references=FAREWELL, distance_threshold=0.5)]
    router = SemanticRouter(name="router", routes=routes, vectorizer=vectorizer,
                            redis_url=f"redis://127.0.0.1:{server.port}", overwrite=True)
    queries = ["hello my friend", "bye friend", "hello there friend", "good morning",
               "see you later friend", "hello goodbye friend", "quantum chromodynamics lecture"]
    for q in queries:
        want = expected(q, routes, "avg")  # the router's default aggregation
        match = router(q)
        if not want:
            # Nothing within any route's threshold: no match.
            assert match.name is None, q
            continue
        assert match.name == min(want, key=want.get), q
        assert match.distance == pytest.approx(want[match.name], abs=1e-5), q
    for method in ("min", "sum", "avg"):
        router.update_routing_config(RoutingConfig(
            max_k=2, aggregation_method=DistanceAggregationMethod(method)))
        for q in queries:
            matches = router.route_many(q, max_k=2)
            got = {m.name: m.distance for m in matches}
            want = expected(q, routes, method)
            assert set(got) == set(want), (method, q)
            for name in want:
                assert got[name] == pytest.approx(want[name], abs=1e-4), (method, q, name)
            # Nearest first.
            assert [m.name for m in matches] == sorted(want, key=want.get), (method, q)
    router.delete()


# No word here is another's stem form: RediSearch scores an optional (`~`) clause of a
# stem-expanded union by the first form it reaches (see the README), this engine by all.
DOCS = ["the quick brown fox", "a lazy dog sleeps", "quick thinking saves the day",
        "brown bears and brown cats", "a fox is quick and clever", "nothing to see here",
        "the dog chased the fox", "clever cats learn fast", "fox fox fox quick"]


def make_index(url):
    idx = SearchIndex.from_dict({
        "index": {"name": "hyb", "prefix": "hyb", "storage_type": "hash"},
        "fields": [
            {"name": "text", "type": "text"},
            {"name": "kind", "type": "tag"},
            {"name": "v1", "type": "vector",
             "attrs": {"dims": EMB_DIM, "distance_metric": "cosine", "algorithm": "flat",
                       "datatype": "float32"}},
            {"name": "v2", "type": "vector",
             "attrs": {"dims": EMB_DIM, "distance_metric": "cosine", "algorithm": "flat",
                       "datatype": "float32"}},
        ],
    }, redis_url=url)
    idx.create(overwrite=True)
    data = [{"id": str(i), "text": t, "kind": "odd" if i % 2 else "even",
             "v1": np.array(toy_embed(t), dtype=np.float32).tobytes(),
             "v2": np.array(toy_embed(t[::-1]), dtype=np.float32).tobytes()}
            for i, t in enumerate(DOCS)]
    idx.load(data, id_field="id")
    return idx


@pytest.fixture
def docs_index(server):
    idx = make_index(server.url)
    yield idx
    idx.disconnect()


def test_aggregate_hybrid_query(docs_index):
    q = "quick fox"
    vec = toy_embed(q)
    query = AggregateHybridQuery(text=q, text_field_name="text", vector=vec,
                                 vector_field_name="v1", alpha=0.7, num_results=5,
                                 return_fields=["text", "kind"])
    res = docs_index.query(query)
    assert 0 < len(res) <= 5
    scores = [float(r["hybrid_score"]) for r in res]
    assert scores == sorted(scores, reverse=True)
    for r in res:
        sim = (2 - float(r["vector_distance"])) / 2
        assert float(r["vector_similarity"]) == pytest.approx(sim, abs=1e-6)
        assert float(r["hybrid_score"]) == pytest.approx(
            0.3 * float(r["text_score"]) + 0.7 * sim, abs=1e-6)
        assert float(r["vector_distance"]) == pytest.approx(cos_dist(q, r["text"]), abs=1e-5)
    # The same query on RediSearch 2.10: the same documents, scores and order.
    anchor = Anchor()
    try:
        theirs = make_index(f"redis://127.0.0.1:{anchor.port}").query(query)
    finally:
        anchor.stop()
    assert [r["text"] for r in res] == [r["text"] for r in theirs]
    for a, b in zip(res, theirs):
        for k in ("text_score", "vector_distance", "hybrid_score"):
            assert float(a[k]) == pytest.approx(float(b[k]), abs=1e-5), k
    # A filter narrows the text side.
    from redisvl.query.filter import Tag
    query = AggregateHybridQuery(text=q, text_field_name="text", vector=vec,
                                 vector_field_name="v1", filter_expression=Tag("kind") == "odd",
                                 return_fields=["kind"])
    assert all(r["kind"] == "odd" for r in docs_index.query(query))


def test_multi_vector_query(docs_index):
    q = "brown dogs"
    v1, v2 = toy_embed(q), toy_embed(q[::-1])
    query = MultiVectorQuery(vectors=[Vector(vector=v1, field_name="v1", weight=0.6,
                                             max_distance=0.9),
                                      Vector(vector=v2, field_name="v2", weight=0.4,
                                             max_distance=1.0)],
                             return_fields=["text"], num_results=4)
    res = docs_index.query(query)
    assert res
    want = []
    for t in DOCS:
        d1, d2 = cos_dist(q, t), cos_dist(q[::-1], t[::-1])
        if d1 <= 0.9 and d2 <= 1.0:
            want.append((0.6 * (2 - d1) / 2 + 0.4 * (2 - d2) / 2, t))
    want.sort(reverse=True)
    got = [(float(r["combined_score"]), r["text"]) for r in res]
    assert [t for _, t in got] == [t for _, t in want[:4]]
    for (gs, _), (ws, _) in zip(got, want):
        assert gs == pytest.approx(ws, abs=1e-5)
