"""A Redis Cluster of real redis-server processes with the module, for the cluster tests and the
cluster bench: `masters` masters with `replicas` replicas each, every node on two free ports
(client and `cluster-port`) in a directory of its own, all killed when the cluster is stopped."""

import os
import signal
import subprocess
import time

import redis

from search_server import RedisServer, free_port


def _free_pair():
    a = free_port()
    b = free_port()
    while b == a:
        b = free_port()
    return a, b


class Node:
    def __init__(self, server_args=()):
        self.bus_port = None
        for _ in range(5):
            port, bus = _free_pair()
            try:
                self.server = _ClusterServer(port, bus, server_args)
                break
            except RuntimeError:
                continue
        else:
            raise RuntimeError("no node could start")
        self.port = self.server.port
        self.bus_port = bus

    def client(self, **kw):
        return redis.Redis(port=self.port, socket_timeout=30, **kw)

    def info(self, section):
        return self.client().info(section)

    @property
    def pid(self):
        return self.server.proc.pid

    def alive(self):
        return self.server.alive()

    def restart(self):
        """Kills the node and starts it again in its directory, on its ports: it comes back
        from its nodes.conf and its RDB (what the last SAVE wrote)."""
        self.server.restart()


class _ClusterServer(RedisServer):
    """RedisServer on a given port pair."""

    def __init__(self, port, bus, server_args):
        import redis_server

        real = redis_server.free_port
        ports = iter([port])
        # RedisServer picks its port with free_port(); hand it ours.
        redis_server.free_port = lambda: next(ports)
        try:
            super().__init__(
                server_args=(
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", os.environ.get("CLUSTER_NODE_TIMEOUT", "3000"),
                    "--cluster-port", str(bus),
                    "--enable-debug-command", "yes",
                    *server_args,
                )
            )
        finally:
            redis_server.free_port = real

    def restart(self):
        import redis_server

        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = subprocess.Popen(self.proc.args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + redis_server.PATIENCE
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if redis.Redis(port=self.port, socket_timeout=2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"node {self.port} did not come back:\n{self.log()[-3000:]}")


class Cluster:
    def __init__(self, masters=3, replicas=1, server_args=()):
        self.nodes = []
        try:
            for _ in range(masters * (1 + replicas)):
                self.nodes.append(Node(server_args))
            addrs = [f"127.0.0.1:{n.port}" for n in self.nodes]
            if masters == 1 and replicas == 0:
                # redis-cli --cluster create wants three masters at least.
                self.nodes[0].client().execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
                self.wait_ok()
                return
            out = subprocess.run(
                ["redis-cli", "--cluster", "create", *addrs,
                 "--cluster-replicas", str(replicas), "--cluster-yes"],
                capture_output=True, text=True, timeout=60,
            )
            if out.returncode != 0:
                raise RuntimeError(f"cluster create failed: {out.stdout}\n{out.stderr}")
            self.wait_ok()
        except BaseException:
            self.stop()
            raise

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def role(self, node):
        return node.info("replication")["role"]

    def masters(self):
        return [n for n in self.live() if self.role(n) == "master" and self._has_slots(n)]

    def replicas(self):
        return [n for n in self.live() if self.role(n) != "master"]

    def _has_slots(self, node):
        myself = [
            line for line in node.client().execute_command("CLUSTER", "NODES").decode().splitlines()
            if "myself" in line
        ][0]
        return len(myself.split()) > 8

    def wait_ok(self, timeout=60):
        """Every live node says the cluster is ok, knows the same masters, and every replica's
        link to its master is up."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                states = [n.client().execute_command("CLUSTER", "INFO").decode() for n in self.live()]
                ok = all("cluster_state:ok" in s for s in states)
                links = all(
                    n.info("replication").get("master_link_status") == "up" for n in self.replicas()
                )
                slots = {
                    tuple(sorted((r[0], r[1]) for r in n.client().execute_command("CLUSTER", "SLOTS")))
                    for n in self.live()
                }
                if ok and links and len(slots) == 1:
                    return
                last = (states, links, slots)
            except redis.RedisError as e:
                last = e
            time.sleep(0.2)
        raise RuntimeError(f"cluster not ok after {timeout} s: {last}")

    def client(self, **kw):
        n = self.live()[0]
        return redis.cluster.RedisCluster(host="127.0.0.1", port=n.port, **kw)

    def kill(self, node):
        os.kill(node.pid, signal.SIGKILL)
        node.server.proc.wait()

    def stop(self):
        for n in self.nodes:
            try:
                os.kill(n.pid, signal.SIGCONT)
            except OSError:
                pass
            n.server.stop()


def wait_for(what, check, timeout=20.0, every=0.05):
    """`check()` until it answers something true (a Redis error counts as not yet); its last
    answer in the failure otherwise."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except redis.RedisError as e:
            last = e
        time.sleep(every)
    raise AssertionError(f"{what}: still {last!r} after {timeout} s")
