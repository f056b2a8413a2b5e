"""Agent state and memory: each agent session keeps its working state in a hash (goal, step,
status, updated_at) and its recent conversation in a capped list, with a TTL so abandoned
sessions clean themselves up.

Writes that belong together go in one MULTI/EXEC; a read-modify-write (advance the step
from its current value) uses WATCH and retries if another worker changed the state in
between, instead of silently losing that worker's update.
Run against `make run`'s server:  python examples/agent_memory.py   (plain redis-py)
"""

import json
import os
import time

import redis

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
r = redis.Redis.from_url(URL, decode_responses=True)
HISTORY_LEN, SESSION_TTL_S = 5, 1800


def keys(agent: str, session: str) -> tuple[str, str]:
    # One {hash tag} per session: state and history land in the same cluster slot, so a
    # MULTI touching both also works on Redis Cluster.
    tag = f"{{agent:{agent}:{session}}}"
    return f"{tag}:state", f"{tag}:history"


def set_state(agent: str, session: str, **fields) -> None:
    state, _ = keys(agent, session)
    with r.pipeline(transaction=True) as p:  # readers never see half an update
        p.hset(state, mapping={**fields, "updated_at": time.time()})
        p.expire(state, SESSION_TTL_S)
        p.execute()


def remember(agent: str, session: str, role: str, text: str) -> None:
    _, history = keys(agent, session)
    with r.pipeline(transaction=True) as p:
        p.lpush(history, json.dumps({"role": role, "text": text}))  # newest first
        p.ltrim(history, 0, HISTORY_LEN - 1)  # keep only the last N: memory stays bounded
        p.expire(history, SESSION_TTL_S)  # refreshed on every message
        p.execute()


def recall(agent: str, session: str) -> list[dict]:
    _, history = keys(agent, session)
    return [json.loads(m) for m in reversed(r.lrange(history, 0, -1))]  # chronological


def advance(agent: str, session: str, between=None) -> tuple[int, int]:
    """step += 1 and a status derived from it, optimistically. Returns (step, attempts).
    `between` runs after the read and before EXEC, to simulate a concurrent writer."""
    state, _ = keys(agent, session)
    attempts = 0
    with r.pipeline(transaction=True) as p:
        while True:
            attempts += 1
            try:
                p.watch(state)  # EXEC fails if anyone writes `state` after this
                step = int(p.hget(state, "step") or 0) + 1
                if between and attempts == 1:
                    between()
                p.multi()
                p.hset(state, mapping={"step": step, "status": "done" if step >= 3 else "working",
                                       "updated_at": time.time()})
                p.execute()
                return step, attempts
            except redis.WatchError:
                continue  # someone else moved the state: re-read and try again


A, S1, S2 = "planner", "s1", "s2"
r.delete(*keys(A, S1), *keys(A, S2))  # so reruns against the same server start fresh
set_state(A, S1, goal="book a flight", step=0, status="started")
state = r.hgetall(keys(A, S1)[0])
started = float(state["updated_at"])
print("state         ", state)
assert state["goal"] == "book a flight" and state["step"] == "0" and float(state["updated_at"]) > 0

for i in range(1, 9):  # 8 turns into a memory of 5
    remember(A, S1, "user" if i % 2 else "assistant", f"message {i}")
remember(A, S2, "user", "other session")
msgs = recall(A, S1)
print("history s1    ", [m["text"] for m in msgs])
assert [m["text"] for m in msgs] == [f"message {i}" for i in range(4, 9)]  # capped, in order
assert recall(A, S2) == [{"role": "user", "text": "other session"}]  # sessions kept apart
ttl = r.ttl(keys(A, S1)[1])
print("history TTL   ", ttl, "s; s2 has", len(recall(A, S2)), "message")
assert 0 < ttl <= SESSION_TTL_S

step, attempts = advance(A, S1)
print("advance       ", f"step {step} in {attempts} attempt")
assert (step, attempts) == (1, 1)

# A second client (another worker) advances the same session while we hold our read.
other = redis.Redis.from_url(URL, decode_responses=True)
step, attempts = advance(A, S1, between=lambda: other.hincrby(keys(A, S1)[0], "step", 1))
state = r.hgetall(keys(A, S1)[0])
print("concurrent    ", f"step {step} after {attempts} attempts (WATCH caught the other write)")
assert attempts == 2 and step == 3  # without WATCH we would have written 2, losing its step
assert state["step"] == "3" and state["status"] == "done" and state["goal"] == "book a flight"
assert float(state["updated_at"]) > started  # step, status and updated_at moved together
print("final state   ", {k: state[k] for k in ("goal", "step", "status")})
print("done")
