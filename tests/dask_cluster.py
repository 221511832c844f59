"""A real dask scheduler and workers on 127.0.0.1, as subprocesses (tests only).

Workers run without a nanny (``--no-nanny``), so killing a worker's process
kills the worker itself, as a lost node would.
"""
import os
import signal
import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackCluster:
    """``dask scheduler`` + ``n`` ``dask worker --nthreads 1`` processes.

    Attributes: address (tcp://127.0.0.1:port of the scheduler), workers
    (dict worker address -> Popen).
    """

    def __init__(self, n_workers: int, env: dict | None = None, cwd=None):
        self.procs = []
        self.workers = {}
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self._spawn(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                     "--no-dashboard"], os.environ)
        for _ in range(n_workers):
            self.add_worker()

    def _spawn(self, args, env):
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], env=env,
                                cwd=self.cwd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def add_worker(self, env: dict | None = None) -> str:
        port = free_port()
        addr = f"tcp://127.0.0.1:{port}"
        self.workers[addr] = self._spawn(
            ["worker", self.address, "--host", "127.0.0.1", "--worker-port", str(port),
             "--nthreads", "1", "--no-nanny", "--no-dashboard"],
            {**self.env, **(env or {})})
        return addr

    def wait_for_workers(self, n: int, timeout: float = 30.0):
        from distributed import Client
        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(n, timeout=timeout)

    def kill(self, addr: str):
        """SIGKILL one worker (no cleanup, no goodbye to the scheduler)."""
        proc = self.workers.pop(addr)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def close(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.kill()
        deadline = time.time() + 10
        for proc in self.procs:
            proc.wait(timeout=max(0.1, deadline - time.time()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
