"""The socket figures the middleware keeps: frames by type, push latency, ack lag, drain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from starlette.types import Message

from server.observability import instruments
from server.observability.sockets import SocketWatch


def _change(seq: int, feed: str = "carer-1") -> str:
    committed = datetime.now(UTC).isoformat()
    return f'{{"type":"change","feed":"{feed}","epoch":1,"seq":{seq},"committed_at":"{committed}","op":{{}}}}'


def _watch(incoming: list[Message], sent: list[Message]) -> SocketWatch:
    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    return SocketWatch("device", receive, send)


def _frames_out(frame_type: str) -> int:
    return instruments.FRAMES_OUT.counts.get(("device", frame_type), 0)


def test_a_histogram_bucket_counts_values_up_to_and_including_its_bound() -> None:
    figure = instruments.SocketHistogram("test_figure_seconds", "test", (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        figure.observe(value)
    (family,) = figure.collect()
    buckets = {sample.labels["le"]: sample.value for sample in family.samples if sample.name.endswith("_bucket")}
    assert buckets == {"0.1": 2, "1.0": 4, "+Inf": 5}
    assert abs(figure.total - 8.65) < 1e-9


async def test_every_frame_sent_is_counted_by_type_even_one_text_sent_to_many_sockets() -> None:
    sent: list[Message] = []
    sockets = [_watch([], sent) for _ in range(3)]
    text = '{"type":"preferences","auto_sync_interval_s":600}'
    before, binary_before = _frames_out("preferences"), _frames_out("binary")
    for socket in sockets:
        await socket.send({"type": "websocket.send", "text": text})
    await sockets[0].send({"type": "websocket.send", "bytes": b"\x00"})
    assert _frames_out("preferences") == before + 3
    assert _frames_out("binary") == binary_before + 1
    assert len(sent) == 4


async def test_ack_lag_is_observed_once_for_every_change_an_ack_covers() -> None:
    socket = _watch([], [])
    pushed_before = sum(instruments.PUSH_LATENCY.counts)
    for seq in (1, 2, 3):
        await socket.send({"type": "websocket.send", "text": _change(seq)})
    assert sum(instruments.PUSH_LATENCY.counts) == pushed_before + 3

    acked_before = sum(instruments.ACK_LAG.counts)
    socket.on_ack('{"type":"ack","feed":"carer-1","epoch":1,"seq":2}')
    assert sum(instruments.ACK_LAG.counts) == acked_before + 2
    socket.on_ack('{"type":"ack","feed":"carer-1","epoch":1,"seq":2}')  # already counted
    socket.on_ack('{"type":"ack","feed":"carer-9","epoch":1,"seq":5}')  # nothing sent on that feed
    assert sum(instruments.ACK_LAG.counts) == acked_before + 2
    socket.on_ack('{"type":"ack","feed":"carer-1","epoch":1,"seq":3}')
    assert sum(instruments.ACK_LAG.counts) == acked_before + 3


async def test_answered_waits_for_the_response_to_every_sync_request() -> None:
    request = {"type": "websocket.receive", "text": '{"type":"sync_request","request_id":"r1"}'}
    socket = _watch([request], [])
    assert await socket.answered(0)  # nothing asked yet

    await socket.receive()
    assert not await socket.answered(0.01)
    waiting = asyncio.create_task(socket.answered(30))
    await asyncio.sleep(0)
    await socket.send({"type": "websocket.send", "text": '{"type":"sync_response","request_id":"r1"}'})
    assert await waiting


async def test_a_frame_type_the_protocol_does_not_know_is_counted_as_other() -> None:
    """What a peer writes in ``type`` never becomes a metric label (one per made-up name)."""
    names = [f"made_up_{i}" for i in range(50)]
    incoming: list[Message] = [{"type": "websocket.receive", "text": f'{{"type":"{n}"}}'} for n in names]
    incoming.append({"type": "websocket.receive", "text": ' { "type" : "also_made_up" }'})
    socket = _watch(incoming, [])
    labels_before = set(instruments.FRAMES_IN.counts)
    other_before = instruments.FRAMES_IN.counts.get(("device", "other"), 0)
    for _ in range(len(names) + 1):
        await socket.receive()
    assert set(instruments.FRAMES_IN.counts) - labels_before <= {("device", "other")}
    assert instruments.FRAMES_IN.counts[("device", "other")] == other_before + len(names) + 1
