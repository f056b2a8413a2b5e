"""Index definitions across restarts of a Redis Cluster's masters (3 masters, no replicas, so a
master that goes down stays down until it is restarted from its RDB): a change a master missed
while down wins when it comes back, also when every master restarts, because the catalog's
generation is saved in the RDB with the definitions."""

import time

import pytest

from cluster_harness import Cluster, wait_for


def definitions(node):
    """Each index's attributes on this node (FT.INFO in a transaction answers locally: a
    cluster with a master down cannot answer for the whole cluster)."""
    c = node.client()
    names = sorted(c.execute_command("FT._LIST"))
    pipe = c.pipeline(transaction=True)
    for name in names:
        pipe.execute_command("FT.INFO", name)
    out = {}
    for name, info in zip(names, pipe.execute()):
        out[name] = dict(zip(info[::2], info[1::2]))[b"attributes"]
    return out


@pytest.fixture
def cluster():
    c = Cluster(masters=3, replicas=0)
    try:
        yield c
    finally:
        c.stop()


def test_a_master_restarted_from_an_old_rdb_does_not_bring_back_old_definitions(cluster):
    m0, m1, m2 = cluster.nodes
    m0.client().execute_command("FT.CREATE", "gone", "PREFIX", "1", "g:", "SCHEMA", "t", "TEXT")
    m0.client().execute_command("FT.CREATE", "kept", "PREFIX", "1", "k:", "SCHEMA", "t", "TEXT")
    for n in cluster.nodes:
        wait_for(f"indexes on {n.port}",
                 lambda n=n: n.client().execute_command("FT._LIST") in
                 ([b"gone", b"kept"], [b"kept", b"gone"]))
    m2.client().save()
    cluster.kill(m2)
    # While m2 is down: one index dropped, the other altered.
    m0.client().execute_command("FT.DROPINDEX", "gone")
    m1.client().execute_command("FT.ALTER", "kept", "SCHEMA", "ADD", "n", "NUMERIC")
    want = None
    for n in (m0, m1):
        wait_for(f"changes on {n.port}", lambda n=n: n.client().execute_command("FT._LIST") ==
                 [b"kept"] and len(definitions(n)[b"kept"]) == 2)
        want = definitions(n)

    # m2 alone comes back from its RDB (with both indexes, the old definition).
    m2.restart()
    cluster.wait_ok()
    for n in cluster.nodes:
        wait_for(f"m2's catalog replaced ({n.port})", lambda n=n: definitions(n) == want)

    # Then every master restarts from its RDB: m0 and m1 from one saved now, m2 from its old
    # one again. By index counts alone m2's two indexes would win over the others' one; the
    # saved generations say which catalog is newer.
    for n in (m0, m1):
        n.client().save()
    for n in cluster.nodes:
        cluster.kill(n)
    for n in cluster.nodes:
        n.restart()
    cluster.wait_ok()
    for n in cluster.nodes:
        wait_for(f"the newer catalog on {n.port}", lambda n=n: definitions(n) == want)
    # And it stays so once every master has heard every other's digest (once a second).
    time.sleep(3)
    for n in cluster.nodes:
        assert definitions(n) == want
