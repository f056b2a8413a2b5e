"""redis-py 7 `r.ft()` against the module's FT.* commands, written the way RAG code uses them,
over RESP2 and RESP3, with every answer checked against a numpy brute force.

Distances are RediSearch's: L2 = squared Euclidean, COSINE = 1 - cos, IP = 1 - dot.
"""

import time

import numpy as np
import pytest
import redis
from redis.commands.search.field import NumericField, TagField, TextField, VectorField
from redis.commands.search.index_definition import IndexDefinition, IndexType
from redis.commands.search.query import Query
from search_util import client, dec, distances, ft_list, info, knn, raw_search, search, wait_indexed

DIM = 8
N = 60
GENRES = ["scifi", "drama", "comedy"]
NOUNS = ["dragon", "robot", "castle", "ocean", "forest", "wizard"]
METRICS = ["COSINE", "L2", "IP"]
ALGOS = ["FLAT", "HNSW"]
TOL = dict(rel=1e-5, abs=1e-5)


class Corpus:
    """N hashes doc:0..doc:N-1: content (TEXT), genre (TAG), year (NUMERIC, missing on every
    10th doc), embedding (FLOAT32 x DIM, numpy tobytes())."""

    def __init__(self, n=N, seed=7, prefix="doc:"):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((n, DIM)).astype(np.float32)
        self.ids = [f"{prefix}{i}" for i in range(n)]
        self.docs = []
        for i in range(n):
            d = {
                "content": f"a tale about the {NOUNS[i % 6]} and the {NOUNS[(i // 4) % 6]}",
                "genre": GENRES[i % 3],
            }
            if i % 10 != 7:
                d["year"] = 1990 + (i * 7) % 31
            self.docs.append(d)

    def hset_all(self, r):
        pipe = r.pipeline(transaction=False)
        for key, d, v in zip(self.ids, self.docs, self.X):
            pipe.hset(key, mapping={**d, "embedding": v.tobytes()})
        pipe.execute()

    def where(self, pred):
        return [i for i, d in enumerate(self.docs) if pred(d)]

    def knn(self, q, metric, k, rows=None):
        rows = list(range(len(self.X))) if rows is None else rows
        return knn(self.X[rows], q, metric, k, ids=[self.ids[i] for i in rows])


def create(r, algo="HNSW", metric="COSINE", name="idx", prefix="doc:", extra=None):
    attrs = {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": metric}
    if algo == "HNSW":
        attrs.update({"M": 16, "EF_CONSTRUCTION": 200})
    attrs.update(extra or {})
    return r.ft(name).create_index(
        [TextField("content"), TagField("genre"), NumericField("year"),
         VectorField("embedding", algo, attrs)],
        definition=IndexDefinition(prefix=[prefix], index_type=IndexType.HASH),
    )


def query_vector(seed=99):
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def assert_knn(found, expected, dist_field="score"):
    assert found.ids == [i for i, _ in expected], (
        f"ids {found.ids} != brute force {[i for i, _ in expected]}")
    for doc, (_, d) in zip(found.docs, expected):
        assert float(doc.fields[dist_field]) == pytest.approx(d, **TOL), (doc.id, doc.fields, d)


# --- KNN ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("algo", ALGOS)
def test_knn_rag_query(server, protocol, algo, metric):
    r = client(server, protocol)
    corpus = Corpus()
    assert create(r, algo, metric) in (b"OK", "OK", True)
    corpus.hset_all(r)
    for seed in range(5):
        qv = query_vector(seed)
        q = (Query("*=>[KNN 3 @embedding $vec AS score]").sort_by("score")
             .return_fields("content", "score").paging(0, 3).dialect(2))
        res = search(r, "idx", q, {"vec": qv.tobytes()})
        expected = corpus.knn(qv, metric, 3)
        assert res.total == 3
        assert_knn(res, expected)
        for doc in res.docs:
            i = corpus.ids.index(doc.id)
            assert doc.fields["content"] == corpus.docs[i]["content"]
            assert set(doc.fields) == {"content", "score"}


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_knn_decode_responses_client(server, protocol):
    """The usual RAG client: decode_responses=True, only text fields and the score returned."""
    r = redis.Redis(host="127.0.0.1", port=server.port, protocol=protocol, decode_responses=True)
    corpus = Corpus()
    create(r, "HNSW", "COSINE")
    corpus.hset_all(r)
    qv = query_vector(3)
    q = (Query("*=>[KNN 4 @embedding $vec AS score]").sort_by("score")
         .return_fields("content", "genre", "score").paging(0, 4).dialect(2))
    res = r.ft("idx").search(q, query_params={"vec": qv.tobytes()})
    expected = corpus.knn(qv, "COSINE", 4)
    if protocol == 2:
        got = [(d.id, float(d.score), d.content, d.genre) for d in res.docs]
        assert res.total == 4
    else:
        assert res["total_results"] == 4
        got = [(x["id"], float(x["extra_attributes"]["score"]), x["extra_attributes"]["content"],
                x["extra_attributes"]["genre"]) for x in res["results"]]
    assert [g[0] for g in got] == [e[0] for e in expected]
    for (key, d, content, genre), (_, want) in zip(got, expected):
        assert d == pytest.approx(want, **TOL)
        i = corpus.ids.index(key)
        assert (content, genre) == (corpus.docs[i]["content"], corpus.docs[i]["genre"])


def test_knn_default_limit_is_10_and_paging(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "FLAT", "L2")
    corpus.hset_all(r)
    qv = query_vector(5)
    expected = corpus.knn(qv, "L2", 20)
    # No LIMIT: RediSearch's default LIMIT 0 10, total = number of KNN results (20).
    res = raw_search(r, "idx", "*=>[KNN 20 @embedding $vec AS d]", "SORTBY", "d", "DIALECT", 2,
                     "PARAMS", 2, "vec", qv.tobytes())
    assert res.total == 20
    assert res.ids == [i for i, _ in expected[:10]]
    q = Query("*=>[KNN 20 @embedding $vec AS d]").sort_by("d").return_fields("d").paging(5, 4).dialect(2)
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert res.total == 20
    assert_knn(res, expected[5:9], "d")


def test_knn_k_and_ef_runtime_as_params(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "L2")
    corpus.hset_all(r)
    qv = query_vector(6)
    q = (Query("*=>[KNN $K @embedding $vec EF_RUNTIME $EF AS vector_distance]")
         .sort_by("vector_distance").return_fields("vector_distance").paging(0, 5).dialect(2))
    res = search(r, "idx", q, {"vec": qv.tobytes(), "K": 5, "EF": 100})
    assert res.total == 5
    assert_knn(res, corpus.knn(qv, "L2", 5), "vector_distance")


def test_knn_default_score_field_name(server, protocol):
    """Without AS, the distance is returned as __<field>_score."""
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "FLAT", "L2")
    corpus.hset_all(r)
    qv = query_vector(8)
    q = Query("*=>[KNN 3 @embedding $vec]").sort_by("__embedding_score").return_fields(
        "__embedding_score").paging(0, 3).dialect(2)
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert_knn(res, corpus.knn(qv, "L2", 3), "__embedding_score")


# --- prefilters -------------------------------------------------------------------------------

def has_word(d, w):
    return w in d["content"].split()


FILTERS = [
    ("@genre:{scifi}", lambda d: d["genre"] == "scifi"),
    ("@genre:{scifi|comedy}", lambda d: d["genre"] in ("scifi", "comedy")),
    ("@year:[2000 2010]", lambda d: "year" in d and 2000 <= d["year"] <= 2010),
    ("@year:[(2000 +inf]", lambda d: "year" in d and d["year"] > 2000),
    ("@year:[-inf (1995]", lambda d: "year" in d and d["year"] < 1995),
    ("@content:dragon", lambda d: has_word(d, "dragon")),
    ("dragon", lambda d: has_word(d, "dragon")),
    ("-@genre:{scifi}", lambda d: d["genre"] != "scifi"),
    ("-@content:dragon", lambda d: not has_word(d, "dragon")),
    ("-@year:[2000 2000]", lambda d: d.get("year") != 2000),
    ("@genre:{scifi} | @genre:{drama}", lambda d: d["genre"] in ("scifi", "drama")),
    ("@genre:{drama} @year:[1995 2015]", lambda d: d["genre"] == "drama" and 1995 <= d.get("year", -1) <= 2015),
    ("@content:robot | @year:[2010 2020]", lambda d: has_word(d, "robot") or 2010 <= d.get("year", -1) <= 2020),
    ("@genre:{comedy} -@content:castle", lambda d: d["genre"] == "comedy" and not has_word(d, "castle")),
]


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("flt,pred", FILTERS, ids=[f for f, _ in FILTERS])
def test_prefiltered_knn(server, protocol, algo, flt, pred):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, algo, "L2")
    corpus.hset_all(r)
    rows = corpus.where(pred)
    assert 0 < len(rows) < N, "the filter should select a proper subset"
    for seed in (11, 12):
        qv = query_vector(seed)
        q = (Query(f"({flt})=>[KNN 5 @embedding $vec AS score]").sort_by("score")
             .return_fields("genre", "score").paging(0, 5).dialect(2))
        res = search(r, "idx", q, {"vec": qv.tobytes()})
        expected = corpus.knn(qv, "L2", 5, rows)
        assert res.total == len(expected)
        assert_knn(res, expected)


def test_prefilter_with_fewer_matches_than_k(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "COSINE")
    corpus.hset_all(r)
    rows = corpus.where(lambda d: d["genre"] == "scifi")
    qv = query_vector(13)
    q = (Query("(@genre:{scifi})=>[KNN 100 @embedding $vec AS score]").sort_by("score")
         .return_fields("score").paging(0, 100).dialect(2))
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert res.total == len(rows)
    assert_knn(res, corpus.knn(qv, "COSINE", 100, rows))


@pytest.mark.parametrize("flt,pred", FILTERS, ids=[f for f, _ in FILTERS])
def test_filter_only_query(server, protocol, flt, pred):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "COSINE")
    corpus.hset_all(r)
    want = {corpus.ids[i] for i in corpus.where(pred)}
    res = search(r, "idx", Query(flt).no_content().paging(0, 1000).dialect(2))
    assert res.total == len(want)
    assert set(res.ids) == want
    assert len(res.ids) == len(want)


def test_sortby_unsortable_numeric(server, protocol):
    """RedisVL MessageHistory sorts on a NUMERIC field that is not SORTABLE."""
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "FLAT", "COSINE")
    corpus.hset_all(r)
    rows = corpus.where(lambda d: d["genre"] == "drama" and "year" in d)
    for asc in (True, False):
        q = (Query("@genre:{drama} @year:[-inf +inf]").sort_by("year", asc=asc)
             .return_fields("year").paging(0, 100).dialect(2))
        res = search(r, "idx", q)
        assert res.total == len(rows)
        years = [int(float(d.fields["year"])) for d in res.docs]
        assert years == sorted((corpus.docs[i]["year"] for i in rows), reverse=not asc)


# --- reply shapes -------------------------------------------------------------------------------

def test_limit_0_0_counts(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "COSINE")
    corpus.hset_all(r)
    res = search(r, "idx", Query("@genre:{scifi}").no_content().paging(0, 0).dialect(2))
    assert res.total == len(corpus.where(lambda d: d["genre"] == "scifi"))
    assert res.docs == []
    res = search(r, "idx", Query("*").no_content().paging(0, 0).dialect(2))
    assert (res.total, res.docs) == (N, [])
    qv = query_vector(1)
    res = search(r, "idx", Query("*=>[KNN 7 @embedding $vec AS score]").no_content().paging(0, 0)
                 .dialect(2), {"vec": qv.tobytes()})
    assert (res.total, res.docs) == (7, [])


def test_nocontent_knn(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "FLAT", "IP")
    corpus.hset_all(r)
    qv = query_vector(2)
    q = Query("*=>[KNN 6 @embedding $vec AS score]").sort_by("score").no_content().paging(0, 6).dialect(2)
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert res.total == 6
    assert res.ids == [i for i, _ in corpus.knn(qv, "IP", 6)]
    assert all(d.fields == {} for d in res.docs)
    # the same through execute_command: [total, id, id, ...] / RESP3 results without attributes
    res = raw_search(r, "idx", "*=>[KNN 6 @embedding $vec AS score]", "NOCONTENT", "SORTBY", "score",
                     "DIALECT", 2, "LIMIT", 0, 6, "PARAMS", 2, "vec", qv.tobytes())
    assert res.ids == [i for i, _ in corpus.knn(qv, "IP", 6)]


def test_return_missing_field_is_omitted(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "L2")
    corpus.hset_all(r)
    qv = corpus.X[7]  # doc:7 has no year
    q = (Query("*=>[KNN 3 @embedding $vec AS score]").sort_by("score")
         .return_fields("content", "year", "nosuchfield", "score").paging(0, 3).dialect(2))
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert res.ids[0] == "doc:7"
    assert float(res.docs[0].fields["score"]) == pytest.approx(0.0, abs=1e-6)
    assert set(res.docs[0].fields) == {"content", "score"}, res.docs[0].fields
    for doc in res.docs[1:]:
        i = corpus.ids.index(doc.id)
        want = {"content", "score"} | ({"year"} if "year" in corpus.docs[i] else set())
        assert set(doc.fields) == want, doc.fields


def test_no_return_gives_all_fields_and_distance(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "FLAT", "COSINE")
    corpus.hset_all(r)
    qv = query_vector(4)
    res = raw_search(r, "idx", "*=>[KNN 2 @embedding $vec AS dist]", "SORTBY", "dist", "DIALECT", 2,
                     "LIMIT", 0, 2, "PARAMS", 2, "vec", qv.tobytes())
    expected = corpus.knn(qv, "COSINE", 2)
    assert res.ids == [i for i, _ in expected]
    for doc, (key, d) in zip(res.docs, expected):
        i = corpus.ids.index(key)
        want = set(corpus.docs[i]) | {"embedding", "dist"}
        assert set(doc.fields) == want
        blob = doc.fields["embedding"]
        blob = blob if isinstance(blob, bytes) else blob.encode()
        assert blob == corpus.X[i].tobytes()
        assert doc.fields["content"] == corpus.docs[i]["content"]
        assert float(doc.fields["dist"]) == pytest.approx(d, **TOL)


def test_withscores(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "COSINE")
    corpus.hset_all(r)
    qv = query_vector(9)
    q = (Query("*=>[KNN 3 @embedding $vec AS dist]").sort_by("dist").with_scores()
         .return_fields("dist").paging(0, 3).dialect(2))
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert_knn(res, corpus.knn(qv, "COSINE", 3), "dist")
    for d in res.docs:
        assert isinstance(float(d.score), float), d


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
@pytest.mark.parametrize("algo", ALGOS)
def test_vector_range(server, protocol, algo, metric):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, algo, metric)
    corpus.hset_all(r)
    qv = query_vector(21)
    d = distances(corpus.X, qv, metric)
    srt = np.sort(d)
    radius = float((srt[11] + srt[12]) / 2)  # 12 docs inside, none on the boundary
    q = (Query("@embedding:[VECTOR_RANGE $r $vec]=>{$YIELD_DISTANCE_AS: dist}").sort_by("dist")
         .return_fields("content", "dist").paging(0, 100).dialect(2))
    res = search(r, "idx", q, {"vec": qv.tobytes(), "r": radius})
    expected = corpus.knn(qv, metric, 12)
    assert res.total == 12
    assert_knn(res, expected, "dist")
    # combined with a tag filter, the way RedisVL writes it
    rows = [i for i in corpus.where(lambda x: x["genre"] == "scifi") if d[i] < radius]
    assert 0 < len(rows) < 12
    q = (Query("(@embedding:[VECTOR_RANGE $r $vec]=>{$YIELD_DISTANCE_AS: dist} @genre:{scifi})")
         .sort_by("dist").return_fields("dist").paging(0, 100).dialect(2))
    res = search(r, "idx", q, {"vec": qv.tobytes(), "r": radius})
    assert res.total == len(rows)
    assert_knn(res, corpus.knn(qv, metric, 100, rows), "dist")
    # a radius that holds nothing
    res = search(r, "idx", q, {"vec": qv.tobytes(), "r": float(srt[0]) / 2})
    assert (res.total, res.docs) == (0, [])


def test_query_blob_of_wrong_size_is_an_error(server, protocol):
    r = client(server, protocol)
    Corpus().hset_all(r)
    create(r, "HNSW", "L2")
    bad = np.ones(DIM + 1, dtype=np.float32).tobytes()
    q = Query("*=>[KNN 3 @embedding $vec AS score]").paging(0, 3).dialect(2)
    with pytest.raises(redis.ResponseError) as e:
        r.ft("idx").search(q, query_params={"vec": bad})
    assert "query vector blob size (36) does not match index's expected size (32)" in str(e.value)


# --- FT.INFO, FT._LIST, FT.DROPINDEX --------------------------------------------------------

@pytest.mark.parametrize("algo", ALGOS)
def test_info(server, protocol, algo):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, algo, "COSINE")
    corpus.hset_all(r)
    i = info(r, "idx")
    assert i["index_name"] == "idx"
    assert isinstance(i["num_docs"], int) and i["num_docs"] == N
    assert isinstance(i["hash_indexing_failures"], int) and i["hash_indexing_failures"] == 0
    assert int(i["indexing"]) == 0 and float(i["percent_indexed"]) == 1.0
    assert i["index_definition"]["key_type"] == "HASH"
    assert i["index_definition"]["prefixes"] == ["doc:"]
    attrs = {a["attribute"]: a for a in i["attributes"]}
    assert list(attrs) == ["content", "genre", "year", "embedding"]
    assert {k: a["type"] for k, a in attrs.items()} == {
        "content": "TEXT", "genre": "TAG", "year": "NUMERIC", "embedding": "VECTOR"}
    assert all(a["identifier"] == k for k, a in attrs.items())
    assert attrs["genre"]["SEPARATOR"] == ","
    v = attrs["embedding"]
    assert v["algorithm"] == algo
    assert v["data_type"] == "FLOAT32"
    assert int(v["dim"]) == DIM
    assert v["distance_metric"] == "COSINE"
    if algo == "HNSW":
        assert int(v["M"]) == 16 and int(v["ef_construction"]) == 200


def test_info_has_the_2_10_fields(server, protocol):
    r = client(server, protocol)
    Corpus().hset_all(r)
    create(r, "HNSW", "L2")
    i = wait_indexed(r, "idx")
    want = ["index_name", "index_options", "index_definition", "attributes", "num_docs",
            "max_doc_id", "num_terms", "num_records", "inverted_sz_mb", "vector_index_sz_mb",
            "total_inverted_index_blocks", "offset_vectors_sz_mb", "doc_table_size_mb",
            "sortable_values_size_mb", "key_table_size_mb", "tag_overhead_sz_mb",
            "text_overhead_sz_mb", "total_index_memory_sz_mb", "geoshapes_sz_mb",
            "records_per_doc_avg", "bytes_per_record_avg", "offsets_per_term_avg",
            "offset_bits_per_record_avg", "hash_indexing_failures", "total_indexing_time",
            "indexing", "percent_indexed", "number_of_uses", "cleaning", "gc_stats",
            "cursor_stats", "dialect_stats", "Index Errors", "field statistics"]
    assert [k for k in want if k not in i] == []
    for k in ("num_docs", "max_doc_id", "num_terms", "num_records", "total_inverted_index_blocks",
              "hash_indexing_failures", "indexing", "number_of_uses"):
        assert isinstance(i[k], int), (k, i[k])
    assert float(i["vector_index_sz_mb"]) > 0


def test_ft_list_and_dropindex(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    assert ft_list(r) == set()
    create(r, "HNSW", "COSINE", name="idx")
    create(r, "FLAT", "L2", name="idx2")
    corpus.hset_all(r)
    r.hset("other:1", mapping={"content": "not in the index", "embedding": corpus.X[0].tobytes()})
    assert ft_list(r) == {"idx", "idx2"}
    # without DD the documents stay
    assert r.ft("idx2").dropindex() in (b"OK", "OK", True)
    assert ft_list(r) == {"idx"}
    assert r.exists(*corpus.ids) == N
    # with DD they go, keys outside the prefix stay
    assert r.ft("idx").dropindex(delete_documents=True) in (b"OK", "OK", True)
    assert ft_list(r) == set()
    assert r.exists(*corpus.ids) == 0
    assert r.exists("other:1") == 1
    with pytest.raises(redis.ResponseError, match="(?i)unknown index name"):
        r.ft("idx").info()
    # the name can be used again
    create(r, "HNSW", "COSINE", name="idx")
    assert info(r, "idx")["num_docs"] == 0


def test_errors(server, protocol):
    r = client(server, protocol)
    with pytest.raises(redis.ResponseError, match="(?i)no such index"):
        r.ft("nosuch").search(Query("*").dialect(2))
    with pytest.raises(redis.ResponseError, match="(?i)unknown index name"):
        r.ft("nosuch").info()
    with pytest.raises(redis.ResponseError, match="(?i)unknown index name"):
        r.ft("nosuch").dropindex()
    create(r, "HNSW", "COSINE")
    with pytest.raises(redis.ResponseError, match="Index already exists"):
        create(r, "FLAT", "L2")
    assert ft_list(r) == {"idx"}


# --- keeping the index in step with the keyspace ------------------------------------------------

@pytest.mark.parametrize("algo", ALGOS)
def test_deleted_expired_and_overwritten_docs(server, protocol, algo):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, algo, "L2")
    corpus.hset_all(r)
    qv = query_vector(31)

    def top(k=N):
        q = (Query(f"*=>[KNN {k} @embedding $vec AS score]").sort_by("score")
             .return_fields("genre", "score").paging(0, k).dialect(2))
        return search(r, "idx", q, {"vec": qv.tobytes()})

    nearest = [i for i, _ in corpus.knn(qv, "L2", 6)]
    # DEL and UNLINK: gone at once
    assert r.delete(nearest[0]) == 1
    assert r.unlink(nearest[1]) == 1
    res = top(5)
    assert nearest[0] not in res.ids and nearest[1] not in res.ids
    assert res.ids == nearest[2:6] + [i for i, _ in corpus.knn(qv, "L2", 7)][6:7]
    assert info(r, "idx")["num_docs"] == N - 2
    # EXPIRE / PEXPIRE, then wait past the deadline
    r.expire(nearest[2], 1)
    r.pexpire(nearest[3], 300)
    assert nearest[2] in top(10).ids  # not expired yet
    time.sleep(1.6)
    res = top()
    assert nearest[2] not in res.ids and nearest[3] not in res.ids
    assert res.total == N - 4 and len(res.ids) == N - 4
    assert info(r, "idx")["num_docs"] == N - 4
    # overwrite: a far doc gets the query vector itself, a near one changes genre
    far = [i for i, _ in corpus.knn(qv, "L2", N)][-1]
    r.hset(far, "embedding", qv.tobytes())
    res = top()
    assert res.ids[0] == far and float(res.docs[0].fields["score"]) == pytest.approx(0, abs=1e-6)
    assert len(res.ids) == len(set(res.ids)) == N - 4  # the old vector is not still in there
    i4 = corpus.ids.index(nearest[4])
    new_genre = "drama" if corpus.docs[i4]["genre"] != "drama" else "comedy"
    r.hset(nearest[4], "genre", new_genre)
    res = search(r, "idx", Query(f"@genre:{{{new_genre}}}").no_content().paging(0, 100).dialect(2))
    assert nearest[4] in res.ids
    old = corpus.docs[i4]["genre"]
    res = search(r, "idx", Query(f"@genre:{{{old}}}").no_content().paging(0, 100).dialect(2))
    assert nearest[4] not in res.ids
    # a brand new doc shows up at once
    r.hset("doc:new", mapping={"content": "new", "genre": "scifi", "embedding": (qv + 1e-3).tobytes()})
    assert top(2).ids == [far, "doc:new"]
    assert info(r, "idx")["num_docs"] == N - 3


def test_hdel_of_the_vector_removes_it_from_knn(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "COSINE")
    corpus.hset_all(r)
    qv = query_vector(32)
    first = corpus.knn(qv, "COSINE", 1)[0][0]
    assert r.hdel(first, "embedding") == 1
    q = (Query("*=>[KNN 3 @embedding $vec AS score]").sort_by("score").return_fields("score")
         .paging(0, 3).dialect(2))
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert first not in res.ids
    assert res.ids == [i for i, _ in corpus.knn(qv, "COSINE", 4)][1:4]
    # still a document for the other fields
    res = search(r, "idx", Query("@genre:{%s}" % corpus.docs[corpus.ids.index(first)]["genre"])
                 .no_content().paging(0, 100).dialect(2))
    assert first in res.ids


@pytest.mark.parametrize("algo", ALGOS)
def test_wrong_vector_size(server, protocol, algo):
    """RediSearch tests/pytests/test_vecsim.py::test_wrong_vector_size: 6 hashes, 4 of them with a
    blob of the wrong size (one before FT.CREATE, found by the scan) -> num_docs 2, failures 4."""
    r = client(server, protocol)
    dim = 128
    vector = np.random.default_rng(0).random(1 + dim).astype(np.float32)
    r.hset("0", "v", vector[:dim - 1].tobytes())
    r.execute_command("FT.CREATE", "idx", "SCHEMA", "v", "VECTOR", algo, "6", "TYPE", "FLOAT32",
                      "DIM", dim, "DISTANCE_METRIC", "L2")
    wait_indexed(r, "idx")
    r.hset("1", "v", vector[:dim].tobytes())
    r.hset("2", "v", vector[:dim + 1].tobytes())
    r.hset("3", "v", vector[:dim - 1].tobytes())
    r.hset("4", "v", vector[:dim].tobytes())
    r.hset("5", "v", vector[:dim + 1].tobytes())
    i = info(r, "idx")
    assert i["num_docs"] == 2
    assert i["hash_indexing_failures"] == 4
    res = raw_search(r, "idx", "*=>[KNN 6 @v $q]", "NOCONTENT", "DIALECT", 2, "PARAMS", 2, "q",
                     np.ones(dim, dtype=np.float32).tobytes())
    assert res.total == 2
    assert sorted(res.ids) == ["1", "4"]


def test_wrong_vector_size_replaces_an_indexed_doc_and_is_reported(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "L2")
    corpus.hset_all(r)
    qv = corpus.X[3]
    r.hset("doc:3", "embedding", np.ones(DIM + 2, dtype=np.float32).tobytes())
    i = info(r, "idx")
    assert i["num_docs"] == N - 1
    assert i["hash_indexing_failures"] == 1
    errors = i["Index Errors"]
    errors = errors if isinstance(errors, dict) else dict(zip(errors[::2], errors[1::2]))
    assert int(errors["indexing failures"]) == 1
    assert "Could not add vector with blob size 40 (expected size 32)" in errors["last indexing error"]
    assert errors["last indexing error key"] == "doc:3"
    q = Query("*=>[KNN 3 @embedding $vec AS score]").sort_by("score").return_fields("score").paging(0, 3).dialect(2)
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert "doc:3" not in res.ids
    res = search(r, "idx", Query("@genre:{scifi}").no_content().paging(0, 100).dialect(2))
    assert "doc:3" not in res.ids  # the whole document is rejected, not just the vector


@pytest.mark.parametrize("algo", ALGOS)
def test_index_created_after_the_documents(server, protocol, algo):
    r = client(server, protocol)
    corpus = Corpus(n=500, seed=3)
    corpus.hset_all(r)
    r.set("doc:a-string", "not a hash")          # ignored: not a hash
    r.hset("elsewhere:1", "content", "dragon")   # ignored: other prefix
    create(r, algo, "COSINE")
    i = wait_indexed(r, "idx")
    assert i["num_docs"] == 500
    assert i["hash_indexing_failures"] == 0
    for seed in (41, 42):
        qv = query_vector(seed)
        q = (Query("(@genre:{drama})=>[KNN 5 @embedding $vec AS score]").sort_by("score")
             .return_fields("score").paging(0, 5).dialect(2))
        res = search(r, "idx", q, {"vec": qv.tobytes()})
        rows = corpus.where(lambda d: d["genre"] == "drama")
        assert_knn(res, corpus.knn(qv, "COSINE", 5, rows))
    res = search(r, "idx", Query("@content:dragon").no_content().paging(0, 0).dialect(2))
    assert res.total == len(corpus.where(lambda d: has_word(d, "dragon")))


@pytest.mark.parametrize("algo", ALGOS)
def test_debug_reload_keeps_index_and_docs(server, protocol, algo):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, algo, "COSINE")
    corpus.hset_all(r)
    qv = query_vector(51)
    q = (Query("(@genre:{scifi|drama})=>[KNN 8 @embedding $vec AS score]").sort_by("score")
         .return_fields("content", "score").paging(0, 8).dialect(2))
    before = search(r, "idx", q, {"vec": qv.tobytes()})
    info_before = info(r, "idx")
    assert r.execute_command("DEBUG", "RELOAD") in (b"OK", "OK", True)
    assert ft_list(r) == {"idx"}
    wait_indexed(r, "idx")
    after = search(r, "idx", q, {"vec": qv.tobytes()})
    assert after.total == before.total
    assert after.ids == before.ids
    for a, b in zip(after.docs, before.docs):
        assert a.fields["content"] == b.fields["content"]
        assert float(a.fields["score"]) == pytest.approx(float(b.fields["score"]), **TOL)
    info_after = info(r, "idx")
    assert info_after["num_docs"] == N
    assert info_after["attributes"] == info_before["attributes"]
    assert info_after["index_definition"]["prefixes"] == ["doc:"]
    # still maintained after the reload
    r.delete(before.ids[0])
    assert search(r, "idx", q, {"vec": qv.tobytes()}).ids[:7] == before.ids[1:8]


def test_rename(server, protocol):
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "L2")
    corpus.hset_all(r)
    qv = corpus.X[5]
    q = (Query("*=>[KNN 1 @embedding $vec AS score]").sort_by("score").return_fields("content", "score")
         .paging(0, 1).dialect(2))
    r.rename("doc:5", "doc:renamed")          # stays under the prefix: same doc, new id
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert res.ids == ["doc:renamed"]
    assert res.docs[0].fields["content"] == corpus.docs[5]["content"]
    r.rename("doc:renamed", "elsewhere:5")     # leaves the prefix: out of the index
    res = search(r, "idx", q, {"vec": qv.tobytes()})
    assert res.ids != ["elsewhere:5"] and res.ids != ["doc:5"] and res.ids != ["doc:renamed"]
    assert info(r, "idx")["num_docs"] == N - 1
    r.rename("elsewhere:5", "doc:5")           # and back in
    assert search(r, "idx", q, {"vec": qv.tobytes()}).ids == ["doc:5"]
    assert info(r, "idx")["num_docs"] == N


def test_flushall_drops_indexes(server, protocol):
    """As RediSearch (tests/pytests/test_out_of_keyspace.py::testFlushall): after FLUSHALL the
    index is gone ('idx: no such index') and the name can be created again."""
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "COSINE")
    corpus.hset_all(r)
    assert r.flushall()
    with pytest.raises(redis.ResponseError, match="(?i)no such index"):
        r.ft("idx").search(Query("*").dialect(2))
    assert ft_list(r) == set()
    create(r, "HNSW", "COSINE")
    corpus.hset_all(r)
    assert info(r, "idx")["num_docs"] == N


def test_search_inside_multi_and_lua(server, protocol):
    """FT.SEARCH queued in MULTI/EXEC (redis-py's default pipeline) and called from a Lua script
    answers like a plain call (a module that blocks the client must run these inline)."""
    r = client(server, protocol)
    corpus = Corpus()
    create(r, "HNSW", "L2")
    corpus.hset_all(r)
    qv = query_vector(61)
    want = [i for i, _ in corpus.knn(qv, "L2", 4)]
    args = ["idx", "*=>[KNN 4 @embedding $vec AS score]", "NOCONTENT", "SORTBY", "score", "DIALECT", 2,
            "LIMIT", 0, 4, "PARAMS", 2, "vec", qv.tobytes()]
    pipe = r.pipeline(transaction=True)
    pipe.hset("doc:in-multi", mapping={"genre": "scifi", "embedding": (qv + 1e-3).tobytes()})
    pipe.execute_command("FT.SEARCH", *args)
    _, res = pipe.execute()
    got = raw_ids(res)
    assert got == ["doc:in-multi"] + want[:3]  # sees the write queued before it
    res = r.eval("return redis.call('FT.SEARCH', unpack(ARGV))", 0, *args)
    assert raw_ids(res) == ["doc:in-multi"] + want[:3]


def raw_ids(res):
    """Ids of a NOCONTENT FT.SEARCH reply, RESP2 array or RESP3 map (Lua gives RESP2 shapes)."""
    res = dec(res)
    if isinstance(res, dict):
        return [x["id"] for x in res["results"]]
    return res[1:]
