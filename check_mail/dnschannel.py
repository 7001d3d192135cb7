"""The DNS layer's UDP sockets: a few per nameserver, shared by the queries of
one run, each reply handed to the query whose ID and question it carries.

A socket per query costs a socket, a connect, two changes to the event
loop's poll set and a close: more than the rest of the query. Here a run
opens at most SOCKETS sockets per nameserver, each connected (only that
server's datagrams reach it) from its own random port, and spreads its
queries over them with random IDs, so a forged reply must still hit one
port of several and one ID in 65536. A socket the server answers with
"port unreachable" fails the queries waiting on it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct

from check_mail import dnswire

SOCKETS = 16  # per nameserver and run
# How often queries past their time are failed: one sweep over those in
# flight costs less than a timer for each of thousands of queries.
SWEEP = 0.025
_ID = struct.Struct("!H")


class Channel:
    """The sockets to one nameserver, for the life of one event loop."""

    def __init__(self, address: str, port: int, size: int = SOCKETS) -> None:
        self.address, self.port, self.size = address, port, size
        self.loop = asyncio.get_running_loop()
        self.sockets: list[socket.socket] = []
        # (socket index, query ID) -> the future waiting, the question it asked,
        # and when it gives up
        self.pending: dict[tuple[int, int], tuple[asyncio.Future, bytes, int, float]] = {}
        self.turn = 0
        self.sweeper: asyncio.TimerHandle | None = None

    def ask(self, name: bytes, qtype: int, flags: int, timeout: float) -> asyncio.Future:
        """Send one query; the future gets the reply's octets, or raises
        TimeoutError, OSError (unreachable) or ValueError (garbage)."""
        index = self.turn % self.size
        self.turn += 1
        if index >= len(self.sockets):
            self.sockets.append(self._open(len(self.sockets)))
        sock = self.sockets[index]
        while True:
            qid = int.from_bytes(os.urandom(2), "big")
            if (index, qid) not in self.pending:
                break
        future = self.loop.create_future()
        key = (index, qid)
        self.pending[key] = (future, name, qtype, self.loop.time() + timeout)
        if self.sweeper is None:
            self.sweeper = self.loop.call_later(min(SWEEP, timeout), self._sweep)
        try:
            sock.send(dnswire.query(qid, name, qtype, flags))
        except BlockingIOError:  # the send buffer is full: let the retry deal with it
            pass
        except OSError as exc:
            self._fail(key, exc)
        return future

    def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
        for sock in self.sockets:
            self.loop.remove_reader(sock.fileno())
            sock.close()
        for future, _, _, _ in self.pending.values():
            if not future.done():
                future.cancel()
        self.pending.clear()

    def _open(self, index: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect((self.address, self.port))
        self.loop.add_reader(sock.fileno(), self._readable, index, sock)
        return sock

    def _readable(self, index: int, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            except OSError as exc:  # ICMP port unreachable, and the like
                for key in [k for k in self.pending if k[0] == index]:
                    self._fail(key, exc)
                return
            if len(data) < 2:
                continue
            key = (index, _ID.unpack_from(data)[0])
            waiting = self.pending.get(key)
            if waiting is None:
                continue  # a late or forged reply: nobody waits for it
            future, name, qtype, _ = waiting
            mine = dnswire.answers(data, key[1], name, qtype)
            if mine:
                del self.pending[key]
                future.set_result(data)
            elif mine is None:
                problem = _garbage(data)
                if problem is not None:
                    self._fail(key, problem)
            # else another question under our ID: keep waiting for ours

    def _sweep(self) -> None:
        """Fail the queries past their time; come back while any wait."""
        now = self.loop.time()
        for key in [k for k, waiting in self.pending.items() if waiting[3] <= now]:
            self._fail(key, asyncio.TimeoutError())
        self.sweeper = self.loop.call_later(SWEEP, self._sweep) if self.pending else None

    def _fail(self, key: tuple[int, int], exc: BaseException) -> None:
        waiting = self.pending.pop(key, None)
        if waiting is not None and not waiting[0].done():
            waiting[0].set_exception(exc)


def _garbage(data: bytes) -> Exception | None:
    """Why dnspython cannot read the octets as a DNS message at all, if it cannot."""
    import dns.message

    try:
        dns.message.from_wire(data)
    except Exception as exc:
        return exc
    return None

