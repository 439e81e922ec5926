"""A TCP relay on loopback that a test can cut and restore: what a node sees of a database
or Redis restarting, failing over, or out of reach, without touching the shared server."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.engine import make_url


class CuttableRelay:
    """Relays each connection to ``host:port`` until :meth:`cut`; while cut, every relayed
    connection has been closed and new ones are closed as soon as they are accepted (a
    refused service); :meth:`restore` relays again."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.listen_port = 0
        self.is_cut = False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def to_url(cls, url: str) -> CuttableRelay:
        """A relay to the host and port of a database or Redis URL."""
        parsed = make_url(url)
        default_port = 6379 if parsed.drivername.startswith("redis") else 5432
        return cls(parsed.host or "127.0.0.1", parsed.port or default_port)

    def through(self, url: str) -> str:
        """``url`` with its host and port replaced by this relay's."""
        return make_url(url).set(host="127.0.0.1", port=self.listen_port).render_as_string(hide_password=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.is_cut = True
        for writer in list(self._open):
            writer.transport.abort()

    def restore(self) -> None:
        self.is_cut = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # the cut ended every pipe

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        pipes = [asyncio.create_task(self._pipe(reader, up_writer)), asyncio.create_task(self._pipe(up_reader, writer))]
        self._tasks.update(pipes)
        try:
            await asyncio.gather(*pipes)
        finally:
            self._tasks.difference_update(pipes)
            self._open.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()
