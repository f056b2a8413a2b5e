"""Tensors in Redis: store numpy arrays, read them back whole or as values, keep them
across restarts. Run against `make run`'s server:  python examples/tensors.py

Uses redisai-py (pip install redisai) exactly as with RedisAI.
"""

import os

import numpy as np
import redisai

con = redisai.Client.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))

# A batch of two 2x3 float images, stored as one AI_TENSOR value (raw bytes, no encoding).
batch = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
con.tensorset("example:batch", batch)
print("stored  ", batch.shape, batch.dtype, "->", con.type("example:batch").decode())

# Whole tensor back as numpy (META + BLOB), or just its metadata, or its values as a list.
back = con.tensorget("example:batch")
assert np.array_equal(back, batch)
print("read    ", con.tensorget("example:batch", meta_only=True))
print("values  ", con.tensorget("example:batch", as_numpy=False)["values"][:6], "...")

# Other dtypes, including strings and booleans, and 0-dimensional scalars.
con.tensorset("example:labels", np.array(["cat", "dog"]))
con.tensorset("example:mask", np.array([True, False, True]))
con.tensorset("example:threshold", np.array(0.75, dtype=np.float64))
print("labels  ", con.tensorget("example:labels"))
print("mask    ", con.tensorget("example:mask"))
print("scalar  ", con.tensorget("example:threshold"), "shape", con.tensorget("example:threshold").shape)

# Tensors are ordinary keys: TTLs, DUMP/RESTORE, MEMORY USAGE all apply.
con.expire("example:batch", 60)
print("memory  ", con.memory_usage("example:batch"), "bytes for", batch.nbytes, "bytes of data")
payload = con.dump("example:batch")
con.restore("example:copy", 0, payload)
assert np.array_equal(con.tensorget("example:copy"), batch)
print("restored a copy from DUMP; done")
