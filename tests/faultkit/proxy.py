"""A TCP proxy for PostgreSQL connections that injects network faults on command.

    with FaultProxy("127.0.0.1", cluster.port) as proxy:
        url = proxy.rewrite_url(cluster.url())          # same URL, host:port of the proxy
        proxy.mode = "blackhole"                         # or proxy.set_mode("blackhole")
        proxy.cut_after_client_bytes(b"COMMIT")          # arm the ambiguous-commit fault
        proxy.wait_for_cut(timeout=30)
        proxy.reset_all()
        proxy.stats()                                    # ProxyStats(...)

The proxy runs an asyncio event loop in a daemon thread, listens on 127.0.0.1 on a free port
(``proxy.port``) and forwards each client connection to its own new connection to the target.
Every control method is called from the test thread, takes effect on the loop thread and has
completed when it returns.

Modes (``proxy.mode``):
- ``"pass"`` — forward both directions.
- ``"blackhole"`` — stop forwarding in both directions and keep every socket open: bytes read
  are held, not dropped, and delivered if the mode goes back to ``"pass"`` (a healed network
  partition). New clients are accepted by the kernel but never connected to the target, so a
  client's connect timeout is what ends its attempt. Note: the proxy's own kernel still
  acknowledges data and answers TCP keepalives on both sides, so neither the client's nor the
  server's keepalives detect this blackhole; only an application-level bound does.
- ``"reset"`` — close every open connection, both sides, with RST (``SO_LINGER`` 0), and reset
  each new client connection at once.

One-shot faults:
- ``reset_all()`` — RST every open connection now; the mode is unchanged.
- ``cut_after_client_bytes(pattern)`` — when a client→server chunk contains ``pattern`` (it may
  straddle chunk boundaries), that chunk is forwarded to the server, the server side is then
  closed with a normal FIN and the client side with RST, and nothing the server sends after
  that reaches the client. For ``pattern=b"COMMIT"`` the server receives the whole COMMIT
  before the end of the stream and normally commits, while the client only sees its
  connection reset: the "ambiguous commit". The trigger fires once and then disarms.
  :func:`simple_query` builds the exact bytes of a simple-protocol query for a tighter match.

``stop()`` (also on leaving the ``with`` block) closes the listener and aborts every connection;
it is idempotent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import struct
import threading
import urllib.parse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

Mode = Literal["pass", "blackhole", "reset"]
MODES: tuple[Mode, ...] = ("pass", "blackhole", "reset")
CHUNK = 65536
T = TypeVar("T")


def simple_query(sql: str) -> bytes:
    """Return the frontend ``Query`` ('Q') message that sends ``sql`` by the simple protocol."""
    body = sql.encode() + b"\0"
    return b"Q" + struct.pack("!I", len(body) + 4) + body


@dataclass(frozen=True)
class ProxyStats:
    """Counters since the proxy started."""

    mode: Mode
    accepted: int
    active: int
    bytes_client_to_server: int
    bytes_server_to_client: int
    resets: int
    cuts: int
    client_messages: dict[str, int] = field(default_factory=dict)


# Untyped requests a client may send before its StartupMessage.
_PRE_STARTUP_CODES = {80877103, 80877104, 80877102}  # SSLRequest, GSSENCRequest, Cancel


class _FrontendMessages:
    """Counts the client's protocol messages by type ('Q' simple query, 'P' parse, 'E'
    execute, …) into ``counts``: how many queries a program really sends."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.buffer = b""
        self.started = False

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if not self.started:
                if len(self.buffer) < 8:
                    return
                length, code = struct.unpack("!II", self.buffer[:8])
                if len(self.buffer) < length:
                    return
                self.buffer = self.buffer[length:]
                self.started = code not in _PRE_STARTUP_CODES
                continue
            if len(self.buffer) < 5:
                return
            kind = chr(self.buffer[0])
            (length,) = struct.unpack("!I", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                return
            self.buffer = self.buffer[1 + length:]
            self.counts[kind] = self.counts.get(kind, 0) + 1


@dataclass(eq=False)
class _Link:
    """One client connection and its server connection, owned by the loop thread."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False
    frontend: _FrontendMessages | None = None
    owner: asyncio.Task[Any] | None = None
    cut: bool = False
    tail: bytes = b""


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """TCP proxy from ``127.0.0.1:<port>`` to ``target_host:target_port``; see module doc."""

    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = 0
        self._mode: Mode = "pass"
        self._links: set[_Link] = set()
        self._counts = {"accepted": 0, "c2s": 0, "s2c": 0, "resets": 0, "cuts": 0}
        self._messages: dict[str, int] = {}
        self._cut_pattern: bytes | None = None
        self._cut_done = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"FaultProxy->{target_host}:{target_port}")
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> FaultProxy:
        """Start the loop thread and the listener; return self (``port`` is then set).

        Idempotent while running; a stopped proxy cannot be started again.
        """
        if self._thread.is_alive():
            return self
        self._thread.start()
        self._run(self._open())
        return self

    def stop(self) -> None:
        """Close the listener, abort all connections, end the loop thread. Idempotent."""
        if not self._thread.is_alive():
            if self._thread.ident is None and not self._loop.is_closed():
                self._loop.close()
            return
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` clients connect to."""
        return (self.listen_host, self.port)

    def rewrite_url(self, url: str) -> str:
        """Return ``url`` (``postgresql://…``) with its host:port replaced by the proxy's."""
        parts = urllib.parse.urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@" if userinfo else ""
        netloc += f"{self.listen_host}:{self.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    @property
    def mode(self) -> Mode:
        """The current mode; assigning calls :meth:`set_mode`."""
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        self.set_mode(mode)

    def set_mode(self, mode: Mode) -> None:
        """Switch to ``mode``; ``"reset"`` also resets every open connection at once.

        Raises: ValueError — unknown mode.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self._call(lambda: self._apply_mode(mode))

    def reset_all(self) -> int:
        """RST every open connection (both sides); return how many were reset."""
        return self._call(self._reset_links)

    def cut_after_client_bytes(self, pattern: bytes) -> None:
        """Arm the one-shot cut described in the module docstring (replaces an armed one)."""
        if not pattern:
            raise ValueError("pattern must not be empty")

        def arm() -> None:
            self._cut_pattern = pattern
            self._cut_done.clear()

        self._call(arm)

    def wait_for_cut(self, timeout: float) -> bool:
        """Block until the armed cut has fired; return False if ``timeout`` passed first."""
        return self._cut_done.wait(timeout)

    def stats(self) -> ProxyStats:
        """Return a snapshot of the counters."""

        def snapshot() -> ProxyStats:
            c = self._counts
            return ProxyStats(self._mode, c["accepted"], len(self._links), c["c2s"], c["s2c"],
                              c["resets"], c["cuts"], dict(self._messages))

        return self._call(snapshot)

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def _call(self, fn: Callable[[], T]) -> T:
        if not self._thread.is_alive():
            raise RuntimeError("the proxy is not running")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def runner() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(runner)
        return future.result(timeout=30)

    async def _open(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, self.listen_host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for link in self._links for t in (link.owner, *link.tasks) if t is not None]
        self._reset_links(count=False)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _apply_mode(self, mode: Mode) -> None:
        assert self._flowing is not None
        self._mode = mode
        if mode == "pass":
            self._flowing.set()
        else:
            self._flowing.clear()
        if mode == "reset":
            self._reset_links()

    def _reset_links(self, count: bool = True) -> int:
        links = [link for link in self._links if not link.closed]
        for link in links:
            self._end(link, client_rst=True, server_rst=True)
        if count:
            self._counts["resets"] += len(links)
        return len(links)

    def _end(self, link: _Link, *, client_rst: bool, server_rst: bool) -> None:
        """Close both sides of a link (RST or FIN each) and cancel its tasks."""
        if link.closed:
            return
        link.closed = True
        for writer, rst in ((link.client, client_rst), (link.server, server_rst)):
            if writer is None:
                continue
            if rst:
                _rst(writer)
            else:
                writer.close()
        current = asyncio.current_task()
        for task in [*link.tasks, link.owner]:
            if task is not None and task is not current:
                task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        self._counts["accepted"] += 1
        link = _Link(client=writer, owner=asyncio.current_task())
        if self._mode == "reset":
            self._counts["resets"] += 1
            _rst(writer)
            return
        self._links.add(link)
        try:
            await self._flowing.wait()
            if link.closed:
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            link.server = up_writer
            link.tasks = [
                asyncio.create_task(self._pump(link, reader, up_writer, to_server=True)),
                asyncio.create_task(self._pump(link, up_reader, writer, to_server=False)),
            ]
            await asyncio.gather(*link.tasks, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._end(link, client_rst=False, server_rst=False)
            self._links.discard(link)

    async def _pump(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        *, to_server: bool,
    ) -> None:
        assert self._flowing is not None
        try:
            while not link.closed:
                data = await reader.read(CHUNK)
                # A blackhole also holds back the end of the stream, not only data.
                await self._flowing.wait()
                if not data:
                    break
                if link.closed or (link.cut and not to_server):
                    return
                if to_server:
                    if link.frontend is None:
                        link.frontend = _FrontendMessages(self._messages)
                    link.frontend.feed(data)
                cut = to_server and self._matches_cut(link, data)
                writer.write(data)
                await writer.drain()
                self._counts["c2s" if to_server else "s2c"] += len(data)
                if cut:
                    self._fire_cut(link)
                    return
        except (OSError, asyncio.IncompleteReadError):
            pass
        self._end(link, client_rst=False, server_rst=False)

    def _matches_cut(self, link: _Link, data: bytes) -> bool:
        pattern = self._cut_pattern
        if pattern is None:
            return False
        window = link.tail + data
        link.tail = window[-(len(pattern) - 1):] if len(pattern) > 1 else b""
        if pattern in window:
            link.cut = True
            self._cut_pattern = None
            return True
        return False

    def _fire_cut(self, link: _Link) -> None:
        self._end(link, client_rst=True, server_rst=False)
        self._counts["cuts"] += 1
        self._cut_done.set()
