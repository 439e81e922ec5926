"""The client under test, driven through its adapter: one process speaking lines of JSON.

The kit writes one request per line on the adapter's stdin, ``{"id": 1, "op": "state"}``,
and reads one answer per line on its stdout, ``{"id": 1, "ok": true, ...}`` (or
``"ok": false`` with an ``error``). docs/conformance.md is the contract. The process is
started from the team's command template, in its own process group, so that ``kill -9``
takes it down at once, as the system kills an app; it is started again with the same
``state_dir``, where the client keeps what it stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUEST_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
PLACEHOLDERS = ("url", "token", "uuid", "state_dir")


class AdapterError(Exception):
    """The adapter did not answer as the contract says (exited, timed out, refused an op)."""


@dataclass(frozen=True)
class Launch:
    """What fills the command template: ``{url}``, ``{token}``, ``{uuid}``, ``{state_dir}``."""

    url: str
    token: str
    uuid: str
    state_dir: Path


def command_line(template: str, launch: Launch) -> list[str]:
    """The template split like a shell would, each placeholder filled with one argument."""
    values = {"url": launch.url, "token": launch.token, "uuid": launch.uuid, "state_dir": str(launch.state_dir)}
    words = shlex.split(template)
    return [word.format_map(values) for word in words]


class AdapterProcess:
    def __init__(self, template: str, launch: Launch, log_path: Path) -> None:
        self.template = template
        self.launch = launch
        self.log_path = log_path
        self.starts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._next_id = 0

    async def spawn(self) -> None:
        """Start the adapter process (again, after a kill: the same ``state_dir``)."""
        self.launch.state_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f"--- adapter start {self.starts} ---\n")
            log.flush()
            self._process = await asyncio.create_subprocess_exec(
                *command_line(self.template, self.launch),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                limit=16 * 1024 * 1024,
            )

    async def request(self, op: str, timeout: float = REQUEST_TIMEOUT_S, **fields: Any) -> dict[str, Any]:
        """Send one request and return the answer; :class:`AdapterError` unless ``ok``."""
        answer = await self.ask(op, timeout, **fields)
        if answer.get("ok") is not True:
            raise AdapterError(f"{op}: {answer.get('error', 'ok is not true')}")
        return answer

    async def ask(self, op: str, timeout: float = REQUEST_TIMEOUT_S, **fields: Any) -> dict[str, Any]:
        """Send one request and return the answer, ``ok`` or not."""
        process = self._process
        if process is None or process.stdin is None or process.stdout is None or process.returncode is not None:
            raise AdapterError(f"{op}: the adapter is not running")
        self._next_id += 1
        request_id = self._next_id
        line = json.dumps({"id": request_id, "op": op, **fields}) + "\n"
        try:
            process.stdin.write(line.encode())
            await process.stdin.drain()
            async with asyncio.timeout(timeout):
                while True:
                    raw = await process.stdout.readline()
                    if not raw:
                        raise AdapterError(f"{op}: the adapter exited (code {await process.wait()})")
                    answer = _answer(raw)
                    if answer is not None and answer.get("id") == request_id:
                        return answer
        except TimeoutError as exc:
            raise AdapterError(f"{op}: no answer within {timeout:.0f} s") from exc
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise AdapterError(f"{op}: the adapter exited") from exc

    def kill(self) -> None:
        """``kill -9`` the adapter's whole process group: nothing it holds in memory survives."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    async def killed(self) -> None:
        """Kill and wait for the process to be gone."""
        self.kill()
        if self._process is not None:
            await self._process.wait()

    async def stop(self) -> None:
        """Ask the adapter to stop; kill it if it does not within a few seconds."""
        if self._process is None or self._process.returncode is not None:
            return
        with contextlib.suppress(AdapterError):
            await self.ask("stop", STOP_TIMEOUT_S)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await self._process.wait()
        await self.killed()


def _answer(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
