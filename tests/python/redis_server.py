"""Starts a redis-server with the module for the Python tests and examples.

The server binary comes from REDIS_SERVER (default: redis-server on PATH), the module from
REDISAI_MODULE (default: target/release/libredisai.so). Each server gets a free port and its
own directory, and is killed when stopped.

REDISAI_CHECK_MEM says the server runs under valgrind (`make check-mem`): it then gets longer to
start, and is stopped with SIGTERM and waited for, since valgrind writes its leak report only
when the server exits by itself.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK_MEM = bool(os.environ.get("REDISAI_CHECK_MEM"))
# Seconds a server may take to answer its first PING, or to exit once asked to.
PATIENCE = 180 if CHECK_MEM else 20


def module_path() -> str:
    return os.environ.get("REDISAI_MODULE", str(ROOT / "target/release/libredisai.so"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """Server options (`--enable-debug-command yes` for DEBUG RELOAD) go in `server_args`,
    before `--loadmodule`; `module_args` after it."""

    def __init__(self, *module_args: str, server_args=()):
        self.dir = tempfile.mkdtemp(prefix="redisai-py-")
        self.port = free_port()
        cmd = [
            os.environ.get("REDIS_SERVER", "redis-server"),
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--dir", self.dir, "--logfile", "server.log", *server_args,
            "--loadmodule", module_path(), *module_args,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + PATIENCE
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        log = self.log()
        self.stop()
        raise RuntimeError(f"redis-server did not start:\n{log}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def log(self) -> str:
        try:
            return Path(self.dir, "server.log").read_text()
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None and CHECK_MEM:
            self.proc.terminate()
            try:
                self.proc.wait(PATIENCE)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
