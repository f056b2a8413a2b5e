"""Agent memory as JSON documents: each session is one document (`JSON.SET agent:memory:<id> $
{...}`) holding the agent's goal, its facts and an embedding of what it is working on; an
`ON JSON` index finds, by meaning and by tag, which past session to resume.

Updates go through RedisJSON's own commands (JSON.ARRAPPEND a fact, JSON.NUMINCRBY the step,
JSON.SET one field): the index follows each of them, and JSON.DEL forgets a session.
Needs RedisJSON beside the module (`make run` loads it). Plain redis-py.
Run against `make run`'s server:  python examples/agent_memory_json.py
"""

import json
import os
import sys

import numpy as np
import redis

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
r = redis.Redis.from_url(URL, decode_responses=True)
DIM = 32


def embed(text: str) -> list[float]:
    """A toy embedding (hashed bag of words, normalised): stands in for a real model."""
    v = np.zeros(DIM, dtype=np.float32)
    for w in text.lower().split():
        v[sum(map(ord, w)) % DIM] += 1.0
    return (v / (np.linalg.norm(v) or 1.0)).tolist()


def save_session(session: str, agent: str, goal: str, facts: list[str]) -> None:
    doc = {"agent": agent, "goal": goal, "facts": facts, "step": 0, "embedding": embed(goal)}
    r.execute_command("JSON.SET", f"agent:memory:{session}", "$", json.dumps(doc))


def resume(agent: str, task: str, k: int = 1) -> list[tuple[str, float]]:
    """The `k` sessions of `agent` closest in meaning to `task`, with their distances."""
    q = np.asarray(embed(task), dtype=np.float32).tobytes()
    res = r.execute_command(
        "FT.SEARCH", "memory", f"(@agent:{{{agent}}})=>[KNN {k} @embedding $q AS d]",
        "PARAMS", 2, "q", q, "SORTBY", "d", "RETURN", 2, "d", "goal", "DIALECT", 2)
    return [(res[i], float(dict(zip(res[i + 1][::2], res[i + 1][1::2]))["d"]))
            for i in range(1, len(res), 2)]


def main() -> int:
    try:
        r.execute_command("JSON.SET", "agent:memory:probe", "$", "{}")
        r.delete("agent:memory:probe")
    except redis.ResponseError:
        print("RedisJSON is not loaded beside the module: nothing to show (make run loads it)")
        return 0
    r.execute_command(
        "FT.CREATE", "memory", "ON", "JSON", "PREFIX", 1, "agent:memory:", "SCHEMA",
        "$.agent", "AS", "agent", "TAG", "$.goal", "AS", "goal", "TEXT",
        "$.facts", "AS", "facts", "TEXT", "$.step", "AS", "step", "NUMERIC",
        "$.embedding", "AS", "embedding", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", DIM,
        "DISTANCE_METRIC", "COSINE")
    save_session("session1", "planner", "book a flight to paris", ["prefers aisle seats"])
    save_session("session2", "planner", "write the quarterly report", ["due friday"])
    save_session("session3", "coder", "fix the flaky flight search test", [])

    best = resume("planner", "find flights to paris for next week")
    print("planner resumes:", best)
    assert best[0][0] == "agent:memory:session1", best

    # RedisJSON's commands update the document; the index follows each of them.
    r.execute_command("JSON.ARRAPPEND", "agent:memory:session2", "$.facts", '"numbers from finance"')
    r.execute_command("JSON.NUMINCRBY", "agent:memory:session2", "$.step", 2)
    found = r.execute_command("FT.SEARCH", "memory", "@facts:finance @step:[2 2]", "NOCONTENT")
    print("sessions waiting on finance at step 2:", found[1:])
    assert found == [1, "agent:memory:session2"], found

    r.execute_command("JSON.DEL", "agent:memory:session1", "$")
    best = resume("planner", "find flights to paris for next week")
    print("after forgetting session1:", best)
    assert best[0][0] == "agent:memory:session2", best
    r.execute_command("FT.DROPINDEX", "memory", "DD")
    return 0


if __name__ == "__main__":
    sys.exit(main())
