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
  // Applies change after change (each a new visit) and records a note after each, marking
  // every other one answered, until the page is killed; window.progress is what committed.
  window.progress = { applied: 0, recorded: 0, answered: [] };
  window.writeUntilKilled = async (name) => {
    const store = await IndexedDbStore.open(name);
    await store.ensureFeed("f", 1, "Amara");
    for (let seq = 1; ; seq++) {
      const visit = {
        id: `v${seq}`, branch_id: "b", client: { id: "c", name: "Mrs Patel", address: "" },
        starts_at: "2026-11-26T10:30:00.000Z", ends_at: "2026-11-26T11:15:00.000Z", status: "scheduled",
        carer_ids: ["f"], tasks: [], version: seq, notes: "",
      };
      await store.apply({ type: "change", feed: "f", epoch: 1, seq, committed_at: visit.starts_at,
                          payload: { kind: "visit_upsert", visit } });
      window.progress.applied = seq;
      const m = await store.record((id) => ({ kind: "visit_note", mutation_id: id, carer_id: "f",
                                              visit_id: visit.id, captured_at: visit.starts_at, text: "n" }));
      window.progress.recorded = m.mutation_id;
      if (m.mutation_id % 2 === 0) {
        await store.recordResults([{ mutation_id: m.mutation_id - 1, status: "applied", reason: null,
                                     record_id: "r", original_status: null }]);
        window.progress.answered.push(m.mutation_id - 1);
      }
    }
  };
  window.heldIn = async (name) => {
    const store = await IndexedDbStore.open(name);
    try {
      const answered = [];
      for (let id = 1; id <= 10000; id++) if ((await store.result(id))?.status === "applied") answered.push(id);
      return { positions: await store.positions(), visits: await store.visits(),
               pending: (await store.pending(10000)).map((m) => m.mutation_id), answered };
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
