/** Small async helpers: a mutex, a resettable signal, an interruptible sleep. */

/** Runs the functions given to `run` one at a time, in call order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** A flag that can be awaited until set. */
export class Signal {
  private waiters: Array<() => void> = [];
  private raised = false;

  get isSet(): boolean {
    return this.raised;
  }

  set(): void {
    this.raised = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  clear(): void {
    this.raised = false;
  }

  wait(): Promise<void> {
    if (this.raised) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** A sleep that `wake()` ends early. */
export class Sleeper {
  private wakers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wakers.add(done);
    });
  }

  wake(): void {
    for (const done of [...this.wakers]) done();
  }
}
