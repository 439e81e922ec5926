"""Running cases: each on a node, proxy and client of its own, some at a time."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from server.conformance.adapter import AdapterError, AdapterProcess, Launch
from server.conformance.case import Case, CaseFailed, Level
from server.conformance.context import CaseContext
from server.conformance.frame_log import FrameLog, SeenFrame
from server.conformance.node_under_test import NodeUnderTest
from server.conformance.office import Office
from server.conformance.proxy import FaultProxy

Verdict = Literal["pass", "fail", "error"]
"""``fail``: the client broke the rule; ``error``: the kit itself could not run the case."""
ADAPTER_LOG_TAIL_CHARS = 4000


@dataclass(frozen=True)
class CaseResult:
    case: Case
    verdict: Verdict
    duration_s: float
    expected: str | None = None
    actual: str | None = None
    frames: tuple[SeenFrame, ...] = ()
    adapter_log: str = ""

    @property
    def fails_run(self) -> bool:
        """A failing MUST, or a case the kit could not run, fails the run."""
        return self.verdict == "error" or (self.verdict == "fail" and self.case.level == Level.MUST)


async def run_cases(cases: Iterable[Case], client: str, workdir: Path, jobs: int = 1) -> list[CaseResult]:
    """Run ``cases`` against the client started by the ``client`` command template."""
    gate = asyncio.Semaphore(max(1, jobs))
    starting = asyncio.Lock()

    async def one(case: Case) -> CaseResult:
        async with gate:
            return await run_case(case, client, workdir / case.id, starting)

    return list(await asyncio.gather(*(one(case) for case in cases)))


async def run_case(case: Case, client: str, workdir: Path, starting: asyncio.Lock | None = None) -> CaseResult:
    started = time.monotonic()
    log = FrameLog()
    nut = NodeUnderTest(workdir / "node", starting or asyncio.Lock())
    await nut.start()
    carer = (await nut.seed()).carers[0]
    proxy = FaultProxy(log, nut.port)
    port = await proxy.start()
    launch = Launch(f"ws://127.0.0.1:{port}/ws/device", carer.device_token, carer.device_uuid, workdir / "client")
    adapter = AdapterProcess(client, launch, workdir / "adapter.log")
    verdict: Verdict = "pass"
    expected = actual = None
    try:
        await adapter.spawn()
        async with asyncio.timeout(case.timeout_s):
            await case.body(CaseContext(nut, Office(nut), proxy, adapter, log))
    except CaseFailed as failed:
        verdict, expected, actual = "fail", failed.expected, failed.actual
    except AdapterError as exc:
        verdict, expected, actual = "fail", "the adapter to answer as the contract says", str(exc)
    except TimeoutError:
        verdict, expected, actual = "fail", f"the case to finish within {case.timeout_s:.0f} s", "it did not"
    except Exception:
        verdict, expected, actual = "error", "the kit to run the case", traceback.format_exc()
    finally:
        await adapter.stop()
        await proxy.stop()
        await nut.stop(drained=False)
    return CaseResult(
        case,
        verdict,
        time.monotonic() - started,
        expected,
        actual,
        tuple(log.frames) if verdict != "pass" else (),
        _tail(workdir / "adapter.log") if verdict != "pass" else "",
    )


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-ADAPTER_LOG_TAIL_CHARS:]
