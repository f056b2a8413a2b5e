"""ACL users against the AI.* commands: which keys each command declares to Redis (the key
positions of spec §1.3 / §12, reported by the getkeys callbacks), and that Redis's key
patterns, read-only key permissions and command permissions then allow or refuse exactly
what they should.

Every refusal is asserted twice: the client gets NOPERM (`redis.exceptions.NoPermissionError`
with Redis's text), and nothing changed — every key's DUMP and every model's run statistics
are as before (no output written, no model run). Every allowed command is asserted to have
done its work. The number of allow / deny assertions is counted and printed at the end of
the module (`test_acl: N allow + M deny assertions`).

Users (created with ACL SETUSER by the default user):
  app      ~app:* +@all                 — key patterns
  ro       %R~app:* +@all               — read-only key permission
  noai     ~* -@all +get                — no AI.* command at all
  nox      ~* +@all -ai.modelexecute    — one command removed
  readers  ~* -@all +<readonly AI.* commands, _RO DAGs>

Needs the TORCH plugin for the AI.SCRIPTEXECUTE part (as test_scripts.py).
"""

import os
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.exceptions import NoPermissionError

MODELS = Path(os.environ.get("REDISAI_TEST_MODELS",
                             Path(__file__).resolve().parents[2] / "target/test-models"))

KEYS_TEXT = "this user has no permissions to access one of the keys used as arguments"

SCRIPT = """
def bar(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]

def setk(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], "1")
    return tensors[0]
"""

TALLY = {"allow": 0, "deny": 0, "getkeys": 0}


def model_bytes(name):
    path = MODELS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make models` (REDISAI_TEST_MODELS={MODELS})")
    return path.read_bytes()


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    line = (f"test_acl: {TALLY['allow']} allow + {TALLY['deny']} deny assertions "
            f"(= {TALLY['allow'] + TALLY['deny']}), {TALLY['getkeys']} COMMAND GETKEYS checks")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + line)
    else:
        print(line)


class Env:
    """A server with tensors, models and users; `admin` is the default user."""

    def __init__(self, server):
        self.server = server
        self.admin = redis.Redis(port=server.port)
        a = self.admin
        mlp = model_bytes("mlp.onnx")
        x = np.array([[1, 2, 3, 4]], dtype=np.float32)
        for prefix in ("app:", "other:"):
            assert a.execute_command("AI.MODELSTORE", f"{prefix}m", "ONNX", "CPU", "BLOB", mlp) == b"OK"
            assert a.execute_command("AI.TENSORSET", f"{prefix}x", "FLOAT", 1, 4, "BLOB",
                                     x.tobytes()) == b"OK"
        self.mlp = mlp
        self.expected = self.run_mlp("app:m", "app:x")
        users = {
            "app": ["~app:*", "+@all"],
            "ro": ["%R~app:*", "+@all"],
            "noai": ["~*", "-@all", "+get"],
            "nox": ["~*", "+@all", "-ai.modelexecute"],
            "readers": ["~*", "-@all", "+ai.tensorget", "+ai.modelget", "+ai.scriptget",
                        "+ai.info", "+ai.dagexecute_ro", "+ai.dagrun_ro"],
        }
        for name, rules in users.items():
            a.execute_command("ACL", "SETUSER", name, "reset", "on", ">pw", *rules)
            setattr(self, name, redis.Redis(port=server.port, username=name, password="pw"))

    def run_mlp(self, model, x):
        a = self.admin
        assert a.execute_command("AI.MODELEXECUTE", model, "INPUTS", 1, x, "OUTPUTS", 1,
                                 "tmp:probs") == b"OK"
        out = a.execute_command("AI.TENSORGET", "tmp:probs", "VALUES")
        a.delete("tmp:probs")
        return [float(v) for v in out]

    def snapshot(self):
        a = self.admin
        keys = sorted(a.keys("*"))
        state = {k: a.dump(k) for k in keys}
        for k in keys:
            if a.type(k) in (b"AI__MODEL", b"AI_SCRIPT"):
                info = a.execute_command("AI.INFO", k)
                state[(k, "stats")] = dict(zip(info[0::2], info[1::2]))
        return state

    def deny(self, client, *cmd, text=KEYS_TEXT):
        """`cmd` is refused with NOPERM and changes nothing."""
        before = self.snapshot()
        with pytest.raises(NoPermissionError) as e:
            client.execute_command(*cmd)
        assert str(e.value) == text, cmd
        assert self.snapshot() == before, cmd
        TALLY["deny"] += 1

    def deny_cmd(self, client, *cmd):
        self.deny(client, *cmd,
                  text=f"this user has no permissions to run the '{cmd[0]}' command")

    def allow(self, client, *cmd):
        """`cmd` is accepted; the caller checks its effect and calls `ok()`."""
        return client.execute_command(*cmd)

    @staticmethod
    def ok(cond=True, what=""):
        assert cond, what
        TALLY["allow"] += 1

    def values(self, key):
        return [float(v) for v in self.admin.execute_command("AI.TENSORGET", key, "VALUES")]


@pytest.fixture
def env(server):
    e = Env(server)
    yield e
    assert server.alive(), "redis-server died"
    assert "panic" not in server.log().lower()


def require_torch(env):
    try:
        env.admin.execute_command("AI.SCRIPTSTORE", "app:s", "CPU", "ENTRY_POINTS", 2, "bar",
                                  "setk", "SOURCE", SCRIPT)
    except redis.ResponseError as e:
        pytest.fail(f"the TORCH backend is not available ({e}): run `make deps-torch` and rebuild")
    assert env.admin.execute_command("AI.SCRIPTSTORE", "other:s", "CPU", "ENTRY_POINTS", 2,
                                     "bar", "setk", "SOURCE", SCRIPT) == b"OK"


# ---------------------------------------------------------------------------------------------
# Key patterns.


def test_tensor_key_patterns(env):
    app, a = env.app, env.admin
    env.ok(env.allow(app, "AI.TENSORSET", "app:t", "FLOAT", 2, "VALUES", 5, 6) == b"OK")
    env.ok(env.values("app:t") == [5, 6])
    env.ok(env.allow(app, "AI.TENSORGET", "app:x", "VALUES") == [b"1", b"2", b"3", b"4"])
    env.ok(env.allow(app, "AI.TENSORGET", "app:x", "META")[:2] == [b"dtype", b"FLOAT"])
    env.deny(app, "AI.TENSORSET", "other:t", "FLOAT", 2, "VALUES", 5, 6)
    assert not a.exists("other:t")
    env.deny(app, "AI.TENSORSET", "other:x", "FLOAT", 1, "VALUES", 9)  # existing: unchanged
    env.deny(app, "AI.TENSORGET", "other:x", "VALUES")
    env.deny(app, "AI.TENSORGET", "other:x", "META", "BLOB")
    # AI.INFO is keyed too.
    env.ok(env.allow(app, "AI.INFO", "app:m")[:2] == [b"key", b"app:m"])
    env.deny(app, "AI.INFO", "other:m")
    env.deny(app, "AI.INFO", "other:m", "RESETSTAT")


def test_model_key_patterns(env):
    app, a = env.app, env.admin
    env.ok(env.allow(app, "AI.MODELSTORE", "app:m2", "ONNX", "CPU", "TAG", "t2", "BLOB",
                     env.mlp) == b"OK")
    env.ok(a.execute_command("AI.MODELGET", "app:m2", "META")[5] == b"t2")
    env.deny(app, "AI.MODELSTORE", "other:m2", "ONNX", "CPU", "BLOB", env.mlp)
    assert not a.exists("other:m2")
    env.deny(app, "AI.MODELSTORE", "other:m", "ONNX", "CPU", "TAG", "replaced", "BLOB", env.mlp)
    env.deny(app, "AI.MODELSET", "other:m", "ONNX", "CPU", "BLOB", env.mlp)
    env.ok(env.allow(app, "AI.MODELGET", "app:m", "BLOB") == env.mlp)
    env.deny(app, "AI.MODELGET", "other:m", "BLOB")
    env.deny(app, "AI.MODELGET", "other:m", "META")
    env.deny(app, "AI.MODELDEL", "other:m")
    assert a.exists("other:m")
    env.deny(app, "DEL", "other:m")
    env.ok(env.allow(app, "AI.MODELDEL", "app:m2") == b"OK")
    env.ok(not a.exists("app:m2"))


def test_modelexecute_keys(env):
    app, a = env.app, env.admin
    env.ok(env.allow(app, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1,
                     "app:y", "TIMEOUT", 5000) == b"OK")
    env.ok(env.values("app:y") == env.expected)
    # The model, an input, an output: each one forbidden key refuses the whole command.
    env.deny(app, "AI.MODELEXECUTE", "other:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:y2")
    assert not a.exists("app:y2")
    env.deny(app, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "other:x", "OUTPUTS", 1, "app:y2")
    env.deny(app, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "other:y")
    assert not a.exists("other:y")
    a.execute_command("AI.TENSORSET", "other:y", "FLOAT", 1, "VALUES", 7)
    env.deny(app, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "other:y")
    assert env.values("other:y") == [7]
    # The deprecated form declares the same keys.
    env.deny(app, "AI.MODELRUN", "app:m", "INPUTS", "app:x", "OUTPUTS", "other:z")
    env.deny(app, "AI.MODELRUN", "other:m", "INPUTS", "app:x", "OUTPUTS", "app:z")
    env.ok(env.allow(app, "AI.MODELRUN", "app:m", "INPUTS", "app:x", "OUTPUTS", "app:z") == b"OK")
    env.ok(env.values("app:z") == env.expected)


def test_dagexecute_keys(env):
    app, a = env.app, env.admin
    # DAG-local names (tmp, probs) are not keys: a user limited to app:* uses them freely,
    # and they never reach the keyspace.
    out = env.allow(app, "AI.DAGEXECUTE", "ROUTING", "app:r",
                    "|>", "AI.TENSORSET", "tmp", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4,
                    "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "tmp", "OUTPUTS", 1, "probs",
                    "|>", "AI.TENSORGET", "probs", "VALUES")
    env.ok([float(v) for v in out[2]] == env.expected)
    env.ok(not a.exists("tmp", "probs", "app:r"))
    out = env.allow(app, "AI.DAGEXECUTE", "LOAD", 1, "app:x", "PERSIST", 1, "app:p",
                    "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:p")
    env.ok(out == [b"OK"] and env.values("app:p") == env.expected)
    # LOAD, PERSIST, ROUTING and the model key of a MODELEXECUTE op are keys.
    env.deny(app, "AI.DAGEXECUTE", "LOAD", 1, "other:x", "PERSIST", 1, "app:q",
             "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "other:x", "OUTPUTS", 1, "app:q")
    assert not a.exists("app:q")
    env.deny(app, "AI.DAGEXECUTE", "LOAD", 1, "app:x", "PERSIST", 1, "other:q",
             "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "other:q")
    assert not a.exists("other:q")
    env.deny(app, "AI.DAGEXECUTE", "ROUTING", "other:r",
             "|>", "AI.TENSORSET", "tmp", "FLOAT", 1, "VALUES", 1, "|>", "AI.TENSORGET", "tmp")
    env.deny(app, "AI.DAGEXECUTE", "ROUTING", "app:r",
             "|>", "AI.TENSORSET", "tmp", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4,
             "|>", "AI.MODELEXECUTE", "other:m", "INPUTS", 1, "tmp", "OUTPUTS", 1, "probs",
             "|>", "AI.TENSORGET", "probs", "VALUES")
    # The read-only DAG: same keys, minus PERSIST.
    out = env.allow(app, "AI.DAGEXECUTE_RO", "LOAD", 1, "app:x",
                    "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "o",
                    "|>", "AI.TENSORGET", "o", "VALUES")
    env.ok([float(v) for v in out[1]] == env.expected)
    env.deny(app, "AI.DAGEXECUTE_RO", "LOAD", 1, "other:x", "|>", "AI.TENSORGET", "other:x")
    env.deny(app, "AI.DAGEXECUTE_RO", "ROUTING", "app:r",
             "|>", "AI.TENSORSET", "tmp", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4,
             "|>", "AI.MODELEXECUTE", "other:m", "INPUTS", 1, "tmp", "OUTPUTS", 1, "o")
    # A name that is not LOADed is DAG-local even where a forbidden key has that name:
    # nothing of the key leaks and nothing is written.
    for cmd in (("AI.DAGEXECUTE", "ROUTING", "app:r", "|>", "AI.TENSORGET", "other:x", "VALUES"),
                ("AI.DAGEXECUTE_RO", "ROUTING", "app:r",
                 "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "other:x", "OUTPUTS", 1, "o",
                 "|>", "AI.TENSORGET", "o", "VALUES"),
                ("AI.DAGRUN_RO", "|>", "AI.TENSORGET", "other:x", "VALUES")):
        before = env.snapshot()
        with pytest.raises(redis.ResponseError, match="^INPUT key cannot be found in DAG$"):
            app.execute_command(*cmd)
        assert env.snapshot() == before, cmd
        TALLY["deny"] += 1
    out = env.allow(app, "AI.DAGRUN", "|>", "AI.TENSORSET", "other:x", "FLOAT", 1, "VALUES", 9,
                    "|>", "AI.TENSORGET", "other:x", "VALUES")
    env.ok(out == [b"OK", [b"9"]] and env.values("other:x") == [1, 2, 3, 4])
    # The deprecated DAGRUN.
    env.deny(app, "AI.DAGRUN", "PERSIST", 1, "other:d", "|>", "AI.TENSORSET", "other:d",
             "FLOAT", 1, "VALUES", 1)
    assert not a.exists("other:d")
    env.ok(env.allow(app, "AI.DAGRUN", "PERSIST", 1, "app:d", "|>", "AI.TENSORSET", "app:d",
                     "FLOAT", 1, "VALUES", 3) == [b"OK"])
    env.ok(env.values("app:d") == [3])


def test_scriptexecute_keys(env):
    require_torch(env)
    app, a = env.app, env.admin
    a.execute_command("AI.TENSORSET", "app:b", "FLOAT", 1, 4, "VALUES", 10, 20, 30, 40)
    a.execute_command("AI.TENSORSET", "other:b", "FLOAT", 1, 4, "VALUES", 10, 20, 30, 40)
    # ARGS are not keys: a forbidden name among them is fine.
    env.ok(env.allow(app, "AI.SCRIPTEXECUTE", "app:s", "bar", "INPUTS", 2, "app:x", "app:b",
                     "ARGS", 1, "other:anything", "OUTPUTS", 1, "app:c") == b"OK")
    env.ok(env.values("app:c") == [11, 22, 33, 44])
    env.deny(app, "AI.SCRIPTEXECUTE", "other:s", "bar", "INPUTS", 2, "app:x", "app:b",
             "OUTPUTS", 1, "app:c2")
    assert not a.exists("app:c2")
    env.deny(app, "AI.SCRIPTEXECUTE", "app:s", "bar", "INPUTS", 2, "app:x", "other:b",
             "OUTPUTS", 1, "app:c2")
    env.deny(app, "AI.SCRIPTEXECUTE", "app:s", "bar", "INPUTS", 2, "app:x", "app:b",
             "OUTPUTS", 1, "other:c")
    assert not a.exists("other:c")
    env.deny(app, "AI.SCRIPTEXECUTE", "app:s", "setk", "KEYS", 1, "other:k",
             "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:c2")
    assert not a.exists("other:k")
    env.ok(env.allow(app, "AI.SCRIPTEXECUTE", "app:s", "setk", "KEYS", 1, "app:k",
                     "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:c2") == b"OK")
    env.ok(a.get("app:k") == b"1")
    # Script keys of the other commands.
    env.deny(app, "AI.SCRIPTSTORE", "other:s2", "CPU", "ENTRY_POINTS", 1, "bar", "SOURCE", SCRIPT)
    assert not a.exists("other:s2")
    env.deny(app, "AI.SCRIPTGET", "other:s", "SOURCE")
    env.deny(app, "AI.SCRIPTDEL", "other:s")
    env.ok(env.allow(app, "AI.SCRIPTGET", "app:s", "SOURCE") == SCRIPT.encode())
    # In a DAG: the script key of a SCRIPTEXECUTE op is a key; local names are not.
    out = env.allow(app, "AI.DAGEXECUTE", "LOAD", 2, "app:x", "app:b",
                    "|>", "AI.SCRIPTEXECUTE", "app:s", "bar", "INPUTS", 2, "app:x", "app:b",
                    "OUTPUTS", 1, "sum", "|>", "AI.TENSORGET", "sum", "VALUES")
    env.ok([float(v) for v in out[1]] == [11, 22, 33, 44])
    env.deny(app, "AI.DAGEXECUTE", "LOAD", 2, "app:x", "app:b",
             "|>", "AI.SCRIPTEXECUTE", "other:s", "bar", "INPUTS", 2, "app:x", "app:b",
             "OUTPUTS", 1, "sum", "|>", "AI.TENSORGET", "sum", "VALUES")
    # A DAG op's KEYS are not declared to Redis, but the script's calls run as the user:
    # the forbidden write fails inside the DAG and changes nothing.
    before = env.snapshot()
    out = app.execute_command("AI.DAGEXECUTE", "LOAD", 1, "app:x",
                              "|>", "AI.SCRIPTEXECUTE", "app:s", "setk", "KEYS", 1, "other:k",
                              "INPUTS", 1, "app:x", "OUTPUTS", 1, "y",
                              "|>", "AI.TENSORGET", "y", "VALUES")
    assert isinstance(out[0], redis.ResponseError) and "NOPERM" in str(out[0]), out
    assert out[1] == b"NA" and not a.exists("other:k")
    after = env.snapshot()
    # The failed run is counted in the script's statistics; nothing else moves.
    before.pop((b"app:s", "stats"))
    after.pop((b"app:s", "stats"))
    assert after == before
    TALLY["deny"] += 1


# ---------------------------------------------------------------------------------------------
# Read-only key permissions (%R~).


def test_read_only_key_permission_refuses_writes(env):
    ro, a = env.ro, env.admin
    env.deny(ro, "AI.TENSORSET", "app:x", "FLOAT", 1, "VALUES", 9)
    env.deny(ro, "AI.TENSORSET", "app:new", "FLOAT", 1, "VALUES", 9)
    assert not a.exists("app:new")
    env.deny(ro, "AI.MODELSTORE", "app:m", "ONNX", "CPU", "TAG", "replaced", "BLOB", env.mlp)
    env.deny(ro, "AI.MODELDEL", "app:m")
    env.deny(ro, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:y")
    assert not a.exists("app:y")
    env.deny(ro, "AI.DAGEXECUTE", "LOAD", 1, "app:x", "PERSIST", 1, "app:p",
             "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:p")
    assert not a.exists("app:p")
    env.deny(ro, "AI.DAGRUN", "PERSIST", 1, "app:p", "|>", "AI.TENSORSET", "app:p",
             "FLOAT", 1, "VALUES", 1)


def test_read_only_key_permission_allows_reads(env):
    ro, a = env.ro, env.admin
    assert ro.execute_command("GET", "app:nothing") is None  # plain reads are allowed
    env.ok(env.allow(ro, "AI.TENSORGET", "app:x", "VALUES") == [b"1", b"2", b"3", b"4"])
    env.ok(env.allow(ro, "AI.MODELGET", "app:m", "BLOB") == env.mlp)
    env.ok(env.allow(ro, "AI.INFO", "app:m")[1] == b"app:m")
    out = env.allow(ro, "AI.DAGEXECUTE_RO", "LOAD", 1, "app:x",
                    "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "o",
                    "|>", "AI.TENSORGET", "o", "VALUES")
    env.ok([float(v) for v in out[1]] == env.expected)
    # Read the model and its input, write the output where writing is allowed.
    a.execute_command("ACL", "SETUSER", "ro", "~out:*")
    out = env.allow(ro, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "out:y")
    env.ok(out == b"OK" and env.values("out:y") == env.expected)


# ---------------------------------------------------------------------------------------------
# Command permissions.


def test_user_without_ai_commands(env):
    noai, a = env.noai, env.admin
    a.set("plain", "v")
    env.ok(env.allow(noai, "GET", "plain") == b"v")
    env.deny_cmd(noai, "AI.TENSORSET", "app:t", "FLOAT", 1, "VALUES", 1)
    assert not a.exists("app:t")
    env.deny_cmd(noai, "AI.TENSORGET", "app:x", "VALUES")
    env.deny_cmd(noai, "AI.MODELSTORE", "app:m9", "ONNX", "CPU", "BLOB", env.mlp)
    env.deny_cmd(noai, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:y")
    assert not a.exists("app:y")
    env.deny_cmd(noai, "AI.DAGEXECUTE", "LOAD", 1, "app:x", "PERSIST", 1, "app:p",
                 "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:p")
    env.deny_cmd(noai, "AI.DAGEXECUTE_RO", "LOAD", 1, "app:x", "|>", "AI.TENSORGET", "app:x")
    env.deny_cmd(noai, "AI.CONFIG", "MODEL_CHUNK_SIZE", 100)
    assert a.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 535822336
    env.deny_cmd(noai, "FT.SEARCH", "idx", "*")


def test_user_without_modelexecute(env):
    nox, a = env.nox, env.admin
    env.deny_cmd(nox, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:y")
    assert not a.exists("app:y")
    env.deny_cmd(nox, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:x")
    # A DAG's ops are part of the DAG command, as in RedisAI: a user allowed AI.DAGEXECUTE_RO
    # runs models there (the read-only way to run one, e.g. on a replica) whatever its
    # AI.MODELEXECUTE permission. To stop a user running models, deny the DAG commands too.
    out = env.allow(nox, "AI.DAGEXECUTE_RO", "LOAD", 1, "app:x", "|>", "AI.MODELEXECUTE",
                    "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "o", "|>", "AI.TENSORGET",
                    "o", "VALUES")
    env.ok([float(v) for v in out[1]] == env.expected)
    # Everything else still works for that user.
    env.ok(env.allow(nox, "AI.TENSORSET", "app:t", "FLOAT", 1, "VALUES", 1) == b"OK")
    env.ok(env.allow(nox, "AI.TENSORGET", "app:t", "VALUES") == [b"1"])
    env.ok(env.allow(nox, "AI.MODELGET", "app:m", "META")[1] == b"ONNX")


def test_user_with_only_read_only_commands(env):
    rd, a = env.readers, env.admin
    out = env.allow(rd, "AI.DAGEXECUTE_RO", "LOAD", 1, "app:x",
                    "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "o",
                    "|>", "AI.TENSORGET", "o", "VALUES")
    env.ok([float(v) for v in out[1]] == env.expected)
    env.ok(env.allow(rd, "AI.TENSORGET", "other:x", "VALUES") == [b"1", b"2", b"3", b"4"])
    env.ok(env.allow(rd, "AI.MODELGET", "other:m", "META")[1] == b"ONNX")
    env.ok(env.allow(rd, "AI.INFO", "app:m")[1] == b"app:m")
    env.ok(env.allow(rd, "AI.DAGRUN_RO", "LOAD", 1, "app:x", "|>", "AI.TENSORGET", "app:x",
                     "VALUES") == [[b"1", b"2", b"3", b"4"]])
    env.deny_cmd(rd, "AI.DAGEXECUTE", "LOAD", 1, "app:x", "PERSIST", 1, "app:p",
                 "|>", "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:p")
    assert not a.exists("app:p")
    env.deny_cmd(rd, "AI.MODELEXECUTE", "app:m", "INPUTS", 1, "app:x", "OUTPUTS", 1, "app:y")
    env.deny_cmd(rd, "AI.TENSORSET", "app:x", "FLOAT", 1, "VALUES", 9)
    env.deny_cmd(rd, "AI.MODELDEL", "app:m")
    env.deny_cmd(rd, "AI.SCRIPTEXECUTE", "app:s", "bar", "INPUTS", 2, "app:x", "app:x",
                 "OUTPUTS", 1, "app:c")
    env.deny_cmd(rd, "AI.DAGRUN", "PERSIST", 1, "app:p", "|>", "AI.TENSORSET", "app:p",
                 "FLOAT", 1, "VALUES", 1)


# ---------------------------------------------------------------------------------------------
# Key positions as Redis sees them.


def test_command_getkeys(env):
    a = env.admin

    def keys(*cmd):
        TALLY["getkeys"] += 1
        return a.command_getkeys(*cmd)

    assert keys("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1) == ["t"]
    assert keys("AI.TENSORGET", "t", "META") == ["t"]
    assert keys("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", "x") == ["m"]
    assert keys("AI.MODELGET", "m", "META") == ["m"]
    assert keys("AI.MODELDEL", "m") == ["m"]
    assert keys("AI.INFO", "m") == ["m"]
    assert keys("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c",
                "TIMEOUT", 100) == ["m", "a", "b", "c"]
    assert keys("AI.MODELRUN", "m", "TIMEOUT", 5, "INPUTS", "a", "b", "OUTPUTS", "c") \
        == ["m", "a", "b", "c"]
    assert keys("AI.SCRIPTEXECUTE", "s", "fn", "KEYS", 1, "k", "INPUTS", 2, "a", "b",
                "ARGS", 2, "notakey", "alsonot", "OUTPUTS", 1, "o") == ["s", "k", "a", "b", "o"]
    assert keys("AI.SCRIPTRUN", "s", "fn", "INPUTS", "a", "b", "OUTPUTS", "o") \
        == ["s", "a", "b", "o"]
    assert keys("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE", "x") == ["s"]
    # DAG: LOAD, PERSIST, ROUTING and the key after each MODELEXECUTE / SCRIPTEXECUTE token;
    # local names (tmp, o) and op outputs are not keys.
    assert sorted(keys("AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "y", "ROUTING", "z",
                       "TIMEOUT", 100,
                       "|>", "AI.TENSORSET", "tmp", "FLOAT", 1, "VALUES", 1,
                       "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y",
                       "|>", "AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "tmp", "OUTPUTS", 1, "o",
                       "|>", "AI.TENSORGET", "o")) == ["m", "s", "x", "y", "z"]
    assert sorted(keys("AI.DAGEXECUTE_RO", "LOAD", 2, "a", "b",
                       "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "o")) \
        == ["a", "b", "m"]
    assert keys("AI.DAGEXECUTE", "ROUTING", "{tag}",
                "|>", "AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1) == ["{tag}"]
    assert sorted(keys("AI.DAGRUN", "PERSIST", 1, "p", "|>", "AI.TENSORSET", "p", "FLOAT", 1,
                       "VALUES", 1, "|>", "AI.MODELRUN", "m", "INPUTS", "p", "OUTPUTS", "q")) \
        == ["m", "p"]


# ---------------------------------------------------------------------------------------------
# FT.SEARCH by a restricted user (tests/search/test_search_acl.py covers every query shape).


def test_search_hides_documents_of_forbidden_keys(env):
    a = env.admin
    a.execute_command("FT.CREATE", "idx", "ON", "HASH", "PREFIX", 1, "doc:", "SCHEMA",
                      "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 2,
                      "DISTANCE_METRIC", "L2")
    for i in range(10):
        owner = "other" if i % 2 else "app"
        a.hset(f"doc:{owner}:{i}", "v", np.array([i, 0], dtype=np.float32).tobytes())
    a.execute_command("ACL", "SETUSER", "app", "~doc:app:*")
    q = np.array([1, 0], dtype=np.float32).tobytes()
    # The nearest documents are the forbidden ones (1, then 0 and 2, then 3 ...).
    res = env.allow(env.app, "FT.SEARCH", "idx", "*=>[KNN 4 @v $q]", "PARAMS", 2, "q", q,
                    "DIALECT", 2, "NOCONTENT")
    env.ok(res[0] == 4)
    assert sorted(res[1:]) == [b"doc:app:0", b"doc:app:2", b"doc:app:4", b"doc:app:6"]
    TALLY["deny"] += 1  # nothing forbidden came back
    res = env.allow(env.app, "FT.SEARCH", "idx", "*", "NOCONTENT", "LIMIT", 0, 100)
    env.ok(res[0] == 5)
    assert all(k.startswith(b"doc:app:") for k in res[1:])
    TALLY["deny"] += 1
    assert a.execute_command("FT.SEARCH", "idx", "*", "LIMIT", 0, 0) == [10]


def test_zz_assertion_count(request):
    """Runs last: at least 50 allow/deny assertions when the whole module ran."""
    mine = [i for i in request.session.items if i.module is request.module]
    ran_all = len(mine) == len([n for n in dir(request.module) if n.startswith("test_")])
    total = TALLY["allow"] + TALLY["deny"]
    print(f"ACL assertions: {TALLY['allow']} allow, {TALLY['deny']} deny, total {total}")
    if ran_all:
        assert total >= 50, TALLY
