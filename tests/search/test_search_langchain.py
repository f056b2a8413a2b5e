"""langchain-redis 0.2.6, unchanged, against FT.* on Redis 7.0: RedisVectorStore (add, similarity
search with scores and a metadata filter, delete); RedisChatMessageHistory over JSON documents
with RedisJSON (refused with a clear error without it). Embeddings are
langchain-core's deterministic fake (no model, no network)."""

import numpy as np
import redis
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_redis import RedisChatMessageHistory, RedisConfig, RedisVectorStore

TEXTS = [
    "redis keeps data in memory",
    "vector search finds similar embeddings",
    "hnsw is a graph index for nearest neighbours",
    "the cat sat on the mat",
    "a model served next to the data",
]
GENRES = ["db", "ml", "ml", "pets", "ml"]


def store(server, emb):
    config = RedisConfig(
        index_name="lc_docs",
        redis_url=server.url,
        metadata_schema=[{"name": "genre", "type": "tag"}],
    )
    vs = RedisVectorStore(emb, config=config)
    ids = vs.add_texts(TEXTS, metadatas=[{"genre": g} for g in GENRES])
    return vs, ids


def cosine_distance(a, b):
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return 1.0 - float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vector_store_search_filter_and_delete(server):
    emb = DeterministicFakeEmbedding(size=16)
    vs, ids = store(server, emb)
    assert len(ids) == len(TEXTS)
    # The fake embedding is a hash of the text: searching a stored text finds it first.
    for text in TEXTS:
        assert vs.similarity_search(text, k=1)[0].page_content == text
    q = emb.embed_query("vector search finds similar embeddings")
    hits = vs.similarity_search_with_score("vector search finds similar embeddings", k=3)
    assert [d.page_content for d, _ in hits][0] == TEXTS[1]
    want = sorted(cosine_distance(q, emb.embed_query(t)) for t in TEXTS)[:3]
    assert np.allclose([s for _, s in hits], want, atol=1e-5)
    from redisvl.query.filter import Tag

    only_ml = vs.similarity_search("the cat sat on the mat", k=5, filter=Tag("genre") == "ml")
    assert {d.page_content for d in only_ml} == {TEXTS[i] for i, g in enumerate(GENRES) if g == "ml"}
    vs.delete([ids[3]])
    assert all(d.page_content != TEXTS[3] for d in vs.similarity_search("the cat sat on the mat", k=5))


def test_chat_message_history_needs_json_documents(server):
    # RedisChatMessageHistory stores messages as JSON documents (FT.CREATE ... ON JSON), which
    # needs RedisJSON; without it the module refuses with a clear error instead of creating an
    # index that would never fill.
    import pytest

    r = redis.Redis.from_url(server.url)
    with pytest.raises(Exception, match="ON JSON needs RedisJSON"):
        RedisChatMessageHistory(session_id="s1", redis_client=r)


def test_chat_message_history_with_redisjson():
    from langchain_core.messages import AIMessage, HumanMessage
    from test_search_json import start, stop

    s = start()
    try:
        r = redis.Redis.from_url(s.url)
        h = RedisChatMessageHistory(session_id="s1", redis_client=r)
        other = RedisChatMessageHistory(session_id="s2", redis_client=r)
        h.add_message(HumanMessage(content="what is redis?"))
        h.add_message(AIMessage(content="an in-memory data store"))
        other.add_message(HumanMessage(content="unrelated question"))
        assert [(type(m).__name__, m.content) for m in h.messages] == [
            ("HumanMessage", "what is redis?"), ("AIMessage", "an in-memory data store")]
        assert [m["content"] for m in h.search_messages("redis")] == ["what is redis?"]
        h.clear()
        assert h.messages == [] and [m.content for m in other.messages] == ["unrelated question"]
    finally:
        stop(s)
