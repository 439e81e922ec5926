/** A {@link DeviceStore} in memory: for tests and benchmarks (nothing survives the process). */
import { emptyState, StateStore, type StoreState } from "./state-store.js";

export class MemoryStore extends StateStore {
  constructor(state: StoreState = emptyState()) {
    super(state);
  }

  protected override async persist(_next: StoreState): Promise<void> {}
}
