"""A scripted HTTPS server on loopback: MTA-STS policy hosts for the tests and
the demo, well-behaved or not (404, a redirect, the wrong content type, an
oversized or chunked body, silence, a certificate that fails).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from check_mail.simulation.background import BackgroundServer


@dataclass
class Page:
    """What one path answers."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})
    chunked: bool = False  # Transfer-Encoding: chunked, in 10-octet chunks
    silent: bool = False  # read the request, never answer
    raw: bytes | None = None  # send exactly these octets instead of a reply


class ScriptedHttpsServer(BackgroundServer):
    """Serves ``pages`` by Host and path ("mta-sts.example.net/.well-known/..."),
    or by path alone for any Host; everything else is a 404."""

    def __init__(self, context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.context = context
        self.host = host
        self.port = port
        self.pages: dict[str, Page] = {}
        self.requests: list[str] = []  # request lines and Host fields, in order

    async def _listen(self) -> Callable[[], None]:
        server = await asyncio.start_server(self._session, self.host, self.port,
                                            ssl=self.context)
        self.port = server.sockets[0].getsockname()[1]
        return server.close

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readline()).decode("latin-1").strip()
            host = ""
            while (line := (await reader.readline()).strip()):
                if line.lower().startswith(b"host:"):
                    host = line[5:].strip().decode("latin-1").split(":")[0].lower()
            self.requests.append(f"{request} Host: {host}")
            path = request.split(" ")[1] if request.count(" ") >= 2 else "/"
            page = self.pages.get(host + path) or self.pages.get(path) or \
                Page(b"not found\n", 404)
            if page.silent:
                await asyncio.sleep(3600)
            writer.write(page.raw if page.raw is not None else _reply(page))
            await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def _reply(page: Page) -> bytes:
    reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found"}.get(
        page.status, "Status")
    head = [f"HTTP/1.1 {page.status} {reason}",
            *(f"{name}: {value}" for name, value in page.headers.items()), "Connection: close"]
    if page.chunked:
        body = b"".join(f"{len(page.body[i:i + 10]):x}\r\n".encode() + page.body[i:i + 10]
                        + b"\r\n" for i in range(0, len(page.body), 10)) + b"0\r\n\r\n"
        head.append("Transfer-Encoding: chunked")
    else:
        body = page.body
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
