"""Multi-agent coordination: a planner, two executors and a critic run as separate processes
and coordinate only through Redis.

  * pub/sub for chatter that may be lost without harm: the planner announces its plan, the
    executors announce results, the critic publishes a verdict on each result;
  * a stream with a consumer group ("executors") as the durable task queue: a task stays
    pending until an executor XACKs it, so a worker that dies mid-task loses nothing; the
    survivor takes the stale entry over with XAUTOCLAIM;
  * a hash as the shared knowledge base (task id -> result).

One executor "crashes" after reading a task and never acknowledges it; the example checks
that every task is still acknowledged exactly once and the critic saw every result.
Run against `make run`'s server:  python examples/multi_agent.py   (plain redis-py)
"""

import json
import multiprocessing as mp
import os
import time

import redis

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
TASKS, GROUP, KB, ACKED = "agents:tasks", "executors", "agents:kb", "agents:acked"
PLANS, RESULTS, VERDICTS = "agents:plans", "agents:results", "agents:verdicts"
STEPS = ["fetch docs", "summarize", "extract entities", "draft answer", "cite sources", "polish"]
DEADLINE_S = 10  # every loop below gives up after this, so the example can never hang


def conn():
    # Each process opens its own connection: sockets must not be shared across fork.
    return redis.Redis.from_url(URL, decode_responses=True)


def planner():
    r = conn()
    r.publish(PLANS, json.dumps({"goal": "answer a question", "steps": STEPS}))
    for step in STEPS:
        r.xadd(TASKS, {"step": step})


def executor(name, crash=False):
    r, deadline = conn(), time.time() + DEADLINE_S
    while r.llen(ACKED) < len(STEPS) and time.time() < deadline:
        # First take over entries another consumer has held for over 200 ms (a dead worker),
        # then read new ones.
        _, claimed, _ = r.xautoclaim(TASKS, GROUP, name, min_idle_time=200, count=10)
        for task_id, _ in claimed:
            r.sadd("agents:reclaimed", task_id)
        fresh = r.xreadgroup(GROUP, name, {TASKS: ">"}, count=1, block=100)
        for task_id, fields in claimed + (fresh[0][1] if fresh else []):
            if crash:
                print(f"  {name}: read {task_id} ({fields['step']}) and crashed before XACK")
                os._exit(1)  # no cleanup, no ack: the entry stays pending under this name
            result = f"done: {fields['step']}"
            # Ack, store and record the ack in one transaction: either all happen or none.
            acked, _, _ = r.pipeline().xack(TASKS, GROUP, task_id).hset(KB, task_id, result) \
                .rpush(ACKED, task_id).execute()
            assert acked == 1, f"{task_id} was already acknowledged"
            r.publish(RESULTS, json.dumps({"task": task_id, "by": name, "result": result}))


def critic():
    r = conn()
    ps = r.pubsub(ignore_subscribe_messages=True)
    ps.subscribe(PLANS, RESULTS)
    plan, seen, deadline = [], 0, time.time() + DEADLINE_S
    while seen < len(STEPS) and time.time() < deadline:
        msg = ps.get_message(timeout=0.1)
        if msg and msg["channel"] == PLANS:
            plan = json.loads(msg["data"])["steps"]
        elif msg and msg["channel"] == RESULTS:
            # The critic judges each result against the plan it heard: a step nobody planned
            # (or a plan it missed) gets a failing verdict.
            result = json.loads(msg["data"])
            ok = result["result"].removeprefix("done: ") in plan
            r.publish(VERDICTS, json.dumps({"task": result["task"], "ok": ok}))
            seen += 1


r = conn()
r.delete(TASKS, KB, ACKED, "agents:reclaimed")
r.xgroup_create(TASKS, GROUP, id="0", mkstream=True)

# Subscribe to verdicts and start the critic BEFORE anything is published: pub/sub does not
# keep messages for late subscribers. Wait until Redis reports the critic's subscription.
verdicts = r.pubsub(ignore_subscribe_messages=True)
verdicts.subscribe(VERDICTS)
ctx = mp.get_context("fork")
procs = {"critic": ctx.Process(target=critic)}
procs["critic"].start()
while dict(r.pubsub_numsub(RESULTS))[RESULTS] < 1:
    time.sleep(0.01)

procs["planner"] = ctx.Process(target=planner)
procs["exec-1"] = ctx.Process(target=executor, args=("exec-1", True))
procs["planner"].start()
procs["exec-1"].start()
procs["planner"].join(DEADLINE_S)
procs["exec-1"].join(DEADLINE_S)
stale = r.xpending_range(TASKS, GROUP, "-", "+", 10)
print(f"planner added {r.xlen(TASKS)} tasks; pending after the crash:",
      [(p["message_id"], p["consumer"]) for p in stale])
assert procs["exec-1"].exitcode == 1 and len(stale) == 1 and stale[0]["consumer"] == "exec-1"

procs["exec-2"] = ctx.Process(target=executor, args=("exec-2",))
procs["exec-2"].start()
got, deadline = {}, time.time() + DEADLINE_S
while len(got) < len(STEPS) and time.time() < deadline:
    msg = verdicts.get_message(timeout=0.1)
    if msg:
        v = json.loads(msg["data"])
        got[v["task"]] = v["ok"]
for name in ("exec-2", "critic"):
    procs[name].join(DEADLINE_S)
    assert procs[name].exitcode == 0, f"{name} exited with {procs[name].exitcode}"

added = [entry_id for entry_id, _ in r.xrange(TASKS)]
acked = r.lrange(ACKED, 0, -1)
reclaimed = r.smembers("agents:reclaimed")
print(f"acked {len(acked)} of {len(added)} tasks; reclaimed from exec-1: {sorted(reclaimed)}")
for task_id in added:
    print(f"  {task_id}  {r.hget(KB, task_id):<24} critic ok={got.get(task_id)}")
assert r.xpending(TASKS, GROUP)["pending"] == 0
assert len(acked) == len(set(acked)) == len(added) and set(acked) == set(added)
assert reclaimed == {stale[0]["message_id"]}
assert set(got) == set(added) and all(got.values()), "critic missed a result"
print("every task acknowledged exactly once, the crashed one reclaimed; done")
