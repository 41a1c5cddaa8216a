"""The ports a stack serves on (each worker's health and metrics endpoint, the agent API), held by the launcher.

The launcher binds each listening socket itself, before it starts anything, and hands it down to the process
that serves on it (`billing worker --listen-fd`, `billing api --listen-fd`). So a port in use is found before
any server has started, and between choosing a port and serving on it no other process (another stack on the
same machine, a client's outgoing connection) can take it. With `any_ports` the kernel chooses them (bind to
port 0 and read the port back), for stacks that must never collide; worker N still serves on the first
worker's port plus N, so a block of consecutive free ports is looked for.
"""

from __future__ import annotations

import errno
import socket

from billing.entrypoints.stack import PrerequisiteError

_BLOCK_ATTEMPTS = 50


def listen_on(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free one), or the OSError of the bind."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Like the servers themselves: connections lingering in TIME_WAIT do not block a restart.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class Listeners:
    def __init__(self, worker_host: str, api_host: str, any_ports: bool) -> None:
        self.worker_host, self.api_host, self.any_ports = worker_host, api_host, any_ports
        self.worker_base: int | None = None
        self._workers: dict[int, socket.socket] = {}
        self._api: socket.socket | None = None
        self._more: list[socket.socket] = []

    def hold(self, sock: socket.socket) -> None:
        """Keep a listener bound elsewhere (another API process's) until close, like the launcher's own."""
        self._more.append(sock)

    def reserve_workers(self, count: int, base: int) -> int:
        """Hold the ports of workers 0..count-1 (from `base`; anywhere with any_ports or base 0); returns the first."""
        if count == 0:
            return base if self.worker_base is None else self.worker_base
        if self.worker_base is None:
            self.worker_base = self._free_block(count) if self.any_ports or base == 0 else base
        for index in range(count):
            self.worker(index)
        return self.worker_base

    def worker(self, index: int) -> socket.socket:
        if index not in self._workers:
            if self.worker_base is None:
                raise RuntimeError("reserve_workers first")
            port = self.worker_base + index
            self._workers[index] = _bound(self.worker_host, port, f"worker {index}", "WORKER_WEB_PORT")
        return self._workers[index]

    def api(self, port: int) -> socket.socket:
        if self._api is None:
            self._api = _bound(self.api_host, 0 if self.any_ports else port, "the agent API", "API_PORT")
        return self._api

    @property
    def api_port(self) -> int | None:
        return self._api.getsockname()[1] if self._api is not None else None

    def close(self) -> None:
        for sock in [*self._workers.values(), *([self._api] if self._api else []), *self._more]:
            sock.close()
        self._workers.clear()
        self._more.clear()
        self._api = None

    def _free_block(self, count: int) -> int:
        for _ in range(_BLOCK_ATTEMPTS):
            first = listen_on(self.worker_host, 0)
            base = first.getsockname()[1]
            held = {0: first}
            try:
                for index in range(1, count):
                    held[index] = listen_on(self.worker_host, base + index)
            except (OSError, OverflowError):  # taken, or past 65535: another block
                for sock in held.values():
                    sock.close()
                continue
            self._workers.update(held)
            return base
        raise PrerequisiteError(f"found no {count} consecutive free ports for the workers in {_BLOCK_ATTEMPTS} tries.")


def _bound(host: str, port: int, what: str, setting: str) -> socket.socket:
    try:
        return listen_on(host, port)
    except (OSError, OverflowError) as error:
        if getattr(error, "errno", None) == errno.EADDRINUSE:
            raise PrerequisiteError(f"port {port} for {what} is in use: stop what uses it or set {setting}.") from None
        reason = getattr(error, "strerror", None) or str(error)
        message = f"{what} cannot listen on {host}:{port} ({reason}): set {setting} (or its host)."
        raise PrerequisiteError(message) from None
