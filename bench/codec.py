"""Frame encode/decode cost per frame: caresync's msgspec codec vs the stdlib json module.

    python -m bench.codec [--n 50000] [--repeats 5]

Prints the median of ``--repeats`` runs, in microseconds per frame, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime

from protocol.codec import decode_server_frame, encode
from protocol.frames import Change, ClientView, TaskView, VisitUpsert, VisitView

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
FRAME = Change(
    feed="0b6c2f7e-7d7a-4c36-9a55-5b0b7b0f0a11",
    epoch=1,
    seq=42,
    committed_at=NOW,
    payload=VisitUpsert(
        visit=VisitView(
            id="5d2e1c3a-2b1f-4f7e-8e1a-0c9d8b7a6f55",
            branch_id="a1f0c2d3-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            client=ClientView(id="c9d8e7f6-a5b4-4c3d-9e2f-1a0b9c8d7e6f", name="Mrs Patel", address="1 High Street"),
            starts_at=NOW,
            ends_at=NOW,
            status="scheduled",
            carer_ids=["0b6c2f7e-7d7a-4c36-9a55-5b0b7b0f0a11"],
            tasks=[
                TaskView(id=f"task-{i}", title=t, position=i) for i, t in enumerate(["Medication", "Lunch", "Wash"])
            ],
            version=3,
            notes="Key safe code 1234",
        )
    ),
)


def _per_frame_us(fn: object, n: int, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()  # type: ignore[operator]
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    raw = encode(FRAME)
    as_dict = json.loads(raw)
    text = raw.decode()
    results = {
        "caresync encode (msgspec struct -> bytes)": _per_frame_us(lambda: encode(FRAME), args.n, args.repeats),
        "caresync decode + validate (bytes -> typed struct)": _per_frame_us(
            lambda: decode_server_frame(raw), args.n, args.repeats
        ),
        "stdlib json.dumps (dict -> str, no validation)": _per_frame_us(
            lambda: json.dumps(as_dict), args.n, args.repeats
        ),
        "stdlib json.loads (str -> dict, no validation)": _per_frame_us(lambda: json.loads(text), args.n, args.repeats),
    }
    print(f"frame: change/visit_upsert, {len(raw)} bytes; n={args.n}, median of {args.repeats}")
    for name, us in results.items():
        print(f"  {name:55s} {us:7.2f} us/frame")
    names = list(results)
    print(f"  encode ratio stdlib/caresync: {results[names[2]] / results[names[0]]:.1f}x")
    print(f"  decode ratio stdlib/caresync: {results[names[3]] / results[names[1]]:.1f}x")


if __name__ == "__main__":
    main()
