"""Exact LLM response cache: identical requests (same model, prompt and generation params)
are answered from Redis instead of calling the model again.

The key is a sha256 of model + prompt + params (JSON, sorted keys) + a cache version, the
value a hash (response, model, created, tokens) with a TTL. Hit/miss counters live in a
stats hash. Invalidating everything is one INCR of the version: old entries are never
read again and simply expire, no KEYS/SCAN sweep needed.
Run against `make run`'s server:  python examples/llm_cache.py   (plain redis-py)
"""

import hashlib
import json
import os
import time

import redis

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
r = redis.Redis.from_url(URL, decode_responses=True)
VERSION_KEY, STATS_KEY, TTL_S = "llmcache:version", "llmcache:stats", 3600

llm_calls = 0


def fake_llm(prompt: str, **params) -> tuple[str, int]:
    """STAND-IN for a real LLM API call: deterministic, a few ms slow, and counted so the
    example can prove when the cache answered instead."""
    global llm_calls
    llm_calls += 1
    time.sleep(0.005)
    text = f"[answer to {prompt!r} at temperature {params.get('temperature', 1.0)}]"
    return text, len(text.split())


def cache_key(model: str, prompt: str, params: dict, version: str) -> str:
    # sort_keys makes {"a":1,"b":2} and {"b":2,"a":1} the same request; hashing keeps keys
    # short and fixed-size however long the prompt is.
    material = json.dumps({"m": model, "p": prompt, "g": params, "v": version}, sort_keys=True)
    return "llmcache:entry:" + hashlib.sha256(material.encode()).hexdigest()


def complete(model: str, prompt: str, **params) -> tuple[str, bool]:
    """Returns (response, was_cached)."""
    # The version is read on every lookup, so a bump takes effect for all clients at once.
    version = r.get(VERSION_KEY) or "0"
    key = cache_key(model, prompt, params, version)
    entry = r.hgetall(key)
    if entry:
        r.hincrby(STATS_KEY, "hits", 1)
        return entry["response"], True
    r.hincrby(STATS_KEY, "misses", 1)
    response, tokens = fake_llm(prompt, **params)
    # HSET has no EX option, so the hash and its EXPIRE go together in one MULTI: an entry
    # can never exist without a TTL.
    with r.pipeline(transaction=True) as p:
        p.hset(key, mapping={"response": response, "model": model,
                             "created": int(time.time()), "tokens": tokens})
        p.expire(key, TTL_S)
        p.execute()
    return response, False


MODEL, PROMPT = "demo-model-1", "What is Redis?"
# Start from a clean slate so reruns against the same server give the same numbers:
# fresh counters, and a version bump hides whatever an earlier run cached.
r.delete(STATS_KEY)
r.incr(VERSION_KEY)

text, cached = complete(MODEL, PROMPT, temperature=0.2, max_tokens=64)
print("1st call      ", "hit " if cached else "miss", text)
assert not cached and llm_calls == 1

# Same request, params in another order: same key, answered by Redis, model not called.
text2, cached = complete(MODEL, PROMPT, max_tokens=64, temperature=0.2)
print("2nd call      ", "hit " if cached else "miss", text2)
assert cached and text2 == text and llm_calls == 1

# Different generation params are a different request.
_, cached = complete(MODEL, PROMPT, temperature=0.9, max_tokens=64)
print("temperature .9", "hit " if cached else "miss")
assert not cached and llm_calls == 2

# Every entry carries a TTL, so the cache bounds its own size.
key = cache_key(MODEL, PROMPT, {"temperature": 0.2, "max_tokens": 64}, r.get(VERSION_KEY) or "0")
ttl = r.ttl(key)
print("entry TTL     ", ttl, "s; fields", sorted(r.hgetall(key)))
assert 0 < ttl <= TTL_S

# Invalidate (new model weights, new prompt template...): bump the version.
new_version = r.incr(VERSION_KEY)
_, cached = complete(MODEL, PROMPT, temperature=0.2, max_tokens=64)
print(f"{'bumped to v%d' % new_version:<14}", "hit " if cached else "miss",
      f"(old entry unread, expires in {r.ttl(key)} s)")
assert not cached and llm_calls == 3 and r.ttl(key) > 0

_, cached = complete(MODEL, PROMPT, temperature=0.2, max_tokens=64)
print("again         ", "hit " if cached else "miss", f"(model called {llm_calls} times in all)")
assert cached and llm_calls == 3

stats = {k: int(v) for k, v in r.hgetall(STATS_KEY).items()}
print("stats         ", stats, f"hit rate {stats['hits'] / (stats['hits'] + stats['misses']):.0%}")
assert stats == {"hits": 2, "misses": 3}
print("done")
