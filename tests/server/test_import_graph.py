"""The node wires the sockets together; the socket layer never reaches back to the node.

Read statically (every import, ``TYPE_CHECKING`` blocks included), so a cycle that only
type checkers follow is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(module: str) -> set[str]:
    path = _module_file(module)
    if path is None:
        return set()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("server") and _module_file(name) is not None}


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        for imported in _imports(module) - seen:
            seen.add(imported)
            todo.append(imported)
    return seen


def test_no_import_cycle_between_the_node_and_the_socket_layer() -> None:
    from_node = _reachable("server.node")
    assert "server.ws.hub" in from_node
    for path in sorted((ROOT / "server" / "ws").glob("*.py")):
        module = f"server.ws.{path.stem}"
        assert not (module in from_node and "server.node" in _reachable(module)), f"cycle: server.node <-> {module}"
    for module in ("server.ws.hub", "server.ws.device_session", "server.ws.feed_socket", "server.ws.streamer"):
        assert "server.node" not in _reachable(module), f"{module} reaches back to server.node"
