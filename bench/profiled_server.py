"""``caresync serve`` with a profiler switched on and off by signals, for bench.fanout --profile.

    python -m bench.profiled_server OUT {cprofile|pyinstrument|tracemalloc} serve --database-url ... --port ...

SIGUSR1 starts profiling, SIGUSR2 stops it and writes OUT (pstats data for cProfile,
text for pyinstrument), so only the rounds being measured are profiled, not start-up
or the connect wave. With tracemalloc the signals mark the connect wave instead: what
the server's Python heap grew by while the devices connected.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType

from server.cli import main as caresync


def run(out: str, kind: str, argv: list[str]) -> int:
    if kind == "tracemalloc":  # memory: SIGUSR1 marks the start, SIGUSR2 writes what grew since
        import tracemalloc

        tracemalloc.start(1)
        marks: list[tracemalloc.Snapshot] = []

        def start(_signum: int, _frame: FrameType | None) -> None:
            marks[:] = [tracemalloc.take_snapshot()]

        def stop(_signum: int, _frame: FrameType | None) -> None:
            grown = tracemalloc.take_snapshot().compare_to(marks[0], "lineno")
            with open(out, "w") as f:
                f.writelines(f"{stat}\n" for stat in grown[:60])

    elif kind == "pyinstrument":
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.0005, async_mode="disabled")

        def start(_signum: int, _frame: FrameType | None) -> None:
            sampler.start()

        def stop(_signum: int, _frame: FrameType | None) -> None:
            sampler.stop()
            with open(out, "w") as f:
                f.write(sampler.output_text(unicode=False, color=False, show_all=False))

    else:
        profile = cProfile.Profile()

        def start(_signum: int, _frame: FrameType | None) -> None:
            profile.enable()

        def stop(_signum: int, _frame: FrameType | None) -> None:
            profile.disable()
            profile.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return caresync(argv)


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1], sys.argv[2], sys.argv[3:]))
