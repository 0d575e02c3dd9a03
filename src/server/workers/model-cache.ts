interface Entry<T> {
  value: Promise<T>;
  bytes: number;
  lastUsed: number;
}

/**
 * Loaded models of one worker, least recently used first out when a new one would exceed the memory
 * budget. The model being loaded always gets in, even alone over budget: refusing would fail the job
 * for no gain. `dispose` frees an evicted model's native memory.
 */
export class ModelCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #budget: number;
  readonly #dispose: (value: T) => Promise<void>;
  #clock = 0;

  constructor(budget: number, dispose: (value: T) => Promise<void>) {
    this.#budget = budget;
    this.#dispose = dispose;
  }

  keys(): string[] {
    return [...this.#entries.keys()];
  }

  async get(key: string, bytes: number, load: () => Promise<T>): Promise<T> {
    const hit = this.#entries.get(key);
    if (hit) {
      hit.lastUsed = ++this.#clock;
      return hit.value;
    }
    await this.#makeRoom(bytes);
    const value = load();
    this.#entries.set(key, { value, bytes, lastUsed: ++this.#clock });
    try {
      return await value;
    } catch (err) {
      this.#entries.delete(key);
      throw err;
    }
  }

  /** Drops one entry (e.g. a context the engine left in an unknown state). */
  async evict(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    await entry.value.then(this.#dispose, () => undefined);
  }

  async clear(): Promise<void> {
    for (const key of this.keys()) await this.evict(key);
  }

  async #makeRoom(bytes: number): Promise<void> {
    const used = () => [...this.#entries.values()].reduce((sum, e) => sum + e.bytes, 0);
    while (this.#entries.size > 0 && used() + bytes > this.#budget) {
      const [oldest] = [...this.#entries.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      await this.evict(oldest);
    }
  }
}
