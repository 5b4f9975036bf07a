/**
 * Where idle agents wait while out of memory: their changelog form (JSON), by agent key, with the end of their newest
 * day so they can expire without being read back. The changelog topic stays the durable copy; this is only a cache of
 * it that a partition's owner rebuilds when the partition is assigned (the Kafka Streams way: a local store in front
 * of a compacted changelog).
 */
export interface ColdAgents {
  put(key: string, json: string, newestEnd: number): void;
  /** Removes the agent and returns its JSON; undefined when it is not here. */
  take(key: string): string | undefined;
  delete(key: string): boolean;
  /** Keys of the agents whose newest day ended before `t`. */
  endedBefore(t: number): string[];
  readonly size: number;
  /** Releases what it holds (files). */
  close(): void;
}

/** Keeps them in memory as strings: the core's default, for tests and benchmarks (the service uses FileColdAgents). */
export class MemoryColdAgents implements ColdAgents {
  private readonly entries = new Map<string, { json: string; end: number }>();

  put(key: string, json: string, newestEnd: number): void {
    this.entries.set(key, { json, end: newestEnd });
  }

  take(key: string): string | undefined {
    const e = this.entries.get(key);
    if (e) this.entries.delete(key);
    return e?.json;
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  endedBefore(t: number): string[] {
    return [...this.entries].filter(([, e]) => e.end < t).map(([k]) => k);
  }

  get size(): number {
    return this.entries.size;
  }

  close(): void {
    this.entries.clear();
  }
}
