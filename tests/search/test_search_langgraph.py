"""LangGraph's Redis checkpointer (`langgraph-checkpoint-redis`'s RedisSaver: JSON documents
and FT.* indexes ON JSON) storing and listing the checkpoints of a small graph (no LLM), on the
module + RedisJSON, and the same flow on RediSearch 2.10.5 + RedisJSON (the anchor) giving the
same checkpoints.

It needs its own venv (`make test-langgraph` makes .venv-langgraph: LangGraph pins a newer
redis-py than the other search tests); elsewhere it skips, saying why.
"""

import operator
from typing import Annotated, TypedDict

import pytest

pytest.importorskip("langgraph.checkpoint.redis",
                    reason="langgraph-checkpoint-redis is not installed (`make test-langgraph`)")

from anchor import Anchor  # noqa: E402
from langgraph.checkpoint.redis import RedisSaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from test_search_json import start, stop  # noqa: E402


class State(TypedDict):
    steps: Annotated[list, operator.add]


def graph():
    g = StateGraph(State)
    g.add_node("plan", lambda s: {"steps": ["plan"]})
    g.add_node("act", lambda s: {"steps": ["act"]})
    g.add_edge(START, "plan")
    g.add_edge("plan", "act")
    g.add_edge("act", END)
    return g


def run_flow(url):
    """Two threads of conversation; what the checkpointer answers about them."""
    with RedisSaver.from_conn_string(url) as saver:
        saver.setup()
        app = graph().compile(checkpointer=saver)
        t1 = {"configurable": {"thread_id": "t1"}}
        t2 = {"configurable": {"thread_id": "t2"}}
        out = [app.invoke({"steps": ["hello"]}, t1), app.invoke({"steps": ["again"]}, t1),
               app.invoke({"steps": ["other"]}, t2)]
        listed = list(saver.list(t1))
        return {
            "outputs": out,
            "state": app.get_state(t1).values,
            "t1": [c.checkpoint["channel_values"].get("steps") for c in listed],
            "t1_steps": [c.metadata.get("step") for c in listed],
            "t1_limit": len(list(saver.list(t1, limit=2))),
            "t2": len(list(saver.list(t2))),
            "latest": saver.get_tuple(t1).checkpoint["id"] == listed[0].checkpoint["id"],
            "history": len(list(app.get_state_history(t1))),
        }


def test_redis_saver_stores_and_lists_checkpoints_as_on_redisearch():
    s = start()
    try:
        ours = run_flow(s.url)
    finally:
        stop(s)
    assert ours["outputs"][1] == {"steps": ["hello", "plan", "act", "again", "plan", "act"]}
    assert ours["state"] == ours["outputs"][1]
    # Newest first: one thread's steps count on across its invocations.
    assert ours["t1_steps"] == [6, 5, 4, 3, 2, 1, 0, -1]
    assert len(ours["t1"]) == 8 and ours["t1_limit"] == 2 and ours["t2"] == 4
    assert ours["latest"] and ours["history"] == 8
    a = Anchor(json=True)
    try:
        theirs = run_flow(f"redis://127.0.0.1:{a.port}/0")
    finally:
        a.stop()
    assert ours == theirs
