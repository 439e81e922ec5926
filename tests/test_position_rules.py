"""Position rules live in ``protocol/``: outside it, no code compares epochs, seqs or acks
by hand (it calls :mod:`protocol.acks`, :mod:`protocol.heads`, the tracker or the sessions).

Read statically: a comparison whose either side names an epoch, a seq or an ack
(``epoch``, ``seq``, ``acked``, ``*_epoch``, ``*_seq``) is a finding, unless it is SQL (a
side is a table column, ``table.c.seq``, or an upsert's ``excluded.seq``: join and filter
conditions the store evaluates). The conformance kit is left out: it is the oracle that
checks a client's positions against the node's, not logic that keeps positions."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("server", "client_sdk", "loadtest")
LEFT_OUT = (ROOT / "server" / "conformance",)
NAMES = frozenset({"epoch", "seq", "acked"})
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


def _is_sql(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr
        in {
            "c",
            "excluded",
        }
    )


def _names_a_position(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name is not None and (name in NAMES or name.endswith(("_epoch", "_seq")))


def findings(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare) or not any(isinstance(op, ORDERING) for op in node.ops):
            continue
        sides = [node.left, *node.comparators]
        if any(_is_sql(side) for side in sides):
            continue
        if any(_names_a_position(side) for side in sides):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_a_hand_written_position_comparison_is_found() -> None:
    assert findings("if acked >= head_seq: pass") == ["1: acked >= head_seq"]
    assert findings("ok = change.epoch == stored.epoch") == ["1: change.epoch == stored.epoch"]
    assert findings("q = select(t).where(t.c.seq > after_seq)") == []
    assert findings("if level(acked, head): pass") == []


def test_no_position_comparison_outside_protocol() -> None:
    found = {}
    for package in CHECKED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if any(path.is_relative_to(left) for left in LEFT_OUT):
                continue
            if hits := findings(path.read_text()):
                found[str(path.relative_to(ROOT))] = hits
    assert found == {}
