/**
 * A durable {@link DeviceStore} for browsers and web views: the state is one record of an
 * IndexedDB object store, written in one readwrite transaction per store transaction (the
 * write resolves on the transaction's `complete`, so a tab closed mid-write keeps the old
 * record whole).
 */
import { emptyState, StateStore, type StoreState } from "./state-store.js";

const OBJECTS = "state";
const KEY = "device";

function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB request failed"));
  });
}

export class IndexedDbStore extends StateStore {
  private constructor(
    private readonly db: IDBDatabase,
    state: StoreState,
  ) {
    super(state);
  }

  /** Open (or create) the store in the database `name`. */
  static async open(name = "caresync-device", factory: IDBFactory = indexedDB): Promise<IndexedDbStore> {
    const opening = factory.open(name, 1);
    opening.onupgradeneeded = () => {
      opening.result.createObjectStore(OBJECTS);
    };
    const db = await done(opening);
    const read = db.transaction(OBJECTS, "readonly").objectStore(OBJECTS).get(KEY);
    const held = (await done(read)) as StoreState | undefined;
    return new IndexedDbStore(db, held ?? emptyState());
  }

  protected override persist(next: StoreState): Promise<void> {
    return new Promise((resolve, reject) => {
      const transaction = this.db.transaction(OBJECTS, "readwrite", { durability: "strict" });
      transaction.objectStore(OBJECTS).put(next, KEY);
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error ?? new Error("IndexedDB write failed"));
      transaction.onabort = () => reject(transaction.error ?? new Error("IndexedDB write aborted"));
    });
  }

  override async close(): Promise<void> {
    await super.close();
    this.db.close();
  }
}
