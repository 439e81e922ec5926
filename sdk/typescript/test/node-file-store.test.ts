// The durable Node store killed (-9) in the middle of applying and of recording/answering
// uploads, again and again: after every restart a change is held with its position or not
// at all, mutation ids are never reused, and nothing committed is lost.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";

import { NodeFileStore } from "../src/node-file-store.js";

const WRITER = new URL("./fixtures/store-writer.js", import.meta.url);

interface Floor {
  applied: number;
  recorded: number;
  answered: number[];
}

/** Run the writer until it has committed `lines` more transactions, then kill -9 it. */
function runAndKill(directory: string, lines: number): Promise<Floor> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER.pathname, directory], { stdio: ["ignore", "pipe", "inherit"] });
    const floor: Floor = { applied: 0, recorded: 0, answered: [] };
    let seen = 0;
    createInterface({ input: child.stdout }).on("line", (line) => {
      const [what, n] = line.split(" ");
      if (what === "applied" || what === "recorded") floor[what] = Number(n);
      if (what === "answered") floor.answered.push(Number(n));
      seen += 1;
      if (seen === lines) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("exit", () => resolve(floor));
  });
}

test("killed mid-apply and mid-upload, the Node store keeps every commit whole", async () => {
  const directory = mkdtempSync(join(tmpdir(), "caresync-store-"));
  try {
    let lastMutationId = 0;
    for (const lines of [7, 31, 12, 50, 3]) {
      const floor = await runAndKill(directory, lines);
      const store = NodeFileStore.open(directory);
      const position = (await store.positions())[0];
      assert.ok(position !== undefined);
      const visits = await store.visits("carer-1");
      assert.equal(visits.length, position.seq, "one visit per applied change: data and position together");
      assert.deepEqual(new Set(visits.map((v) => v.id)), new Set(Array.from({ length: position.seq }, (_, i) => `v${i + 1}`)));
      assert.ok(position.seq >= floor.applied, "no applied change lost");
      const pending = await store.pending(10_000);
      const ids = pending.map((m) => m.mutation_id);
      assert.ok(ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? 0)), "in order");
      assert.ok(Math.max(0, ...ids) >= floor.recorded - 1, "no recording lost");
      for (const id of floor.answered) assert.equal((await store.result(id))?.status, "applied", `answer ${id} kept`);
      const next = await store.record((id) => ({ kind: "visit_note", mutation_id: id, carer_id: "carer-1", visit_id: "v1", captured_at: new Date().toISOString(), text: "" }));
      assert.ok(next.mutation_id > Math.max(lastMutationId, floor.recorded), "mutation ids never reused");
      lastMutationId = next.mutation_id;
      await store.close();
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
