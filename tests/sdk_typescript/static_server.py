"""A tiny static HTTP server for the browser test: the built SDK under ``/dist/`` and one
page at ``/`` that imports it as ES modules."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>caresync device</title></head>
<body>
<script type="module">
  import { Device } from "/dist/index.js";
  import { IndexedDbStore } from "/dist/indexeddb-store.js";

  window.changes = [];
  window.startDevice = async (url, token, deviceUuid) => {
    const store = await IndexedDbStore.open("caresync-test");
    window.device = new Device({ url, token, deviceUuid, store });
    window.device.onChange((change) => window.changes.push(change));
    await window.device.start();
    await window.device.waitConnected();
  };
  window.held = async () => {
    const store = await IndexedDbStore.open("caresync-test");
    try {
      return { positions: await store.positions(), visits: await store.visits() };
    } finally {
      await store.close();
    }
  };
  window.ready = true;
</script>
</body></html>
"""


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def static_server(root: Path) -> Iterator[str]:
    """Serve ``root`` (the package directory: ``/dist/...``) and the page; yields the base URL."""
    handler = functools.partial(_Handler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
