/**
 * A durable {@link DeviceStore} for Node, with no dependencies: the state is one JSON file in
 * a directory, replaced on every transaction by write-to-temporary, fsync, rename, fsync of
 * the directory. A process killed at any moment leaves either the old file or the new one,
 * whole, so a change and its position, or a mutation and its id, are stored together or
 * not at all.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";

import { emptyState, StateStore, type StoreState } from "./state-store.js";

const FILE = "device-store.json";

export class NodeFileStore extends StateStore {
  private constructor(
    private readonly directory: string,
    state: StoreState,
  ) {
    super(state);
  }

  /** Open the store kept in `directory` (created if missing). */
  static open(directory: string): NodeFileStore {
    mkdirSync(directory, { recursive: true });
    let state = emptyState();
    try {
      state = JSON.parse(readFileSync(join(directory, FILE), "utf8")) as StoreState;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    return new NodeFileStore(directory, state);
  }

  protected override async persist(next: StoreState): Promise<void> {
    const target = join(this.directory, FILE);
    const temporary = `${target}.tmp`;
    const fd = openSync(temporary, "w");
    try {
      writeSync(fd, JSON.stringify(next));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, target);
    const dir = openSync(this.directory, "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}
