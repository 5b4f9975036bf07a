/**
 * Sends are paced before they start: `pace` waits out the destination's spacing since its previous send, then marks
 * this one as started. Call it right before the request.
 */
export type LaneWork<T> = (item: T, pace: () => Promise<void>) => Promise<void>;

export interface DeliveryLanesOptions {
  /** Items worked on at once, across every destination. */
  concurrency: number;
  onError?: (err: unknown) => void;
  /** The lane of a destination has emptied: its next rows can be claimed. */
  onLaneDone?: (key: string) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

interface Lane<T> {
  items: T[];
  spacingMs: number;
}

/**
 * One lane per destination: a lane works through its items in order, one at a time and spaced, so a slow or hanging
 * destination holds up only its own items; lanes run side by side up to `concurrency` items in flight.
 */
export class DeliveryLanes<T> {
  private readonly lanes = new Map<string, Lane<T>>();
  private readonly lastSent = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private readonly waiting: (() => void)[] = [];
  private readonly unstarted: T[] = [];
  private active = 0;
  private stopping = false;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly work: LaneWork<T>,
    private readonly options: DeliveryLanesOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Destinations with items queued or in flight. */
  busyKeys(): string[] {
    return [...this.lanes.keys()];
  }

  /** Queues items behind the destination's earlier ones. */
  add(key: string, spacingMs: number, items: readonly T[]): void {
    if (this.stopping) {
      this.unstarted.push(...items);
      return;
    }
    const lane = this.lanes.get(key);
    if (lane) {
      lane.items.push(...items);
      lane.spacingMs = spacingMs;
      return;
    }
    this.forgetOldSends();
    this.lanes.set(key, { items: [...items], spacingMs });
    const run: Promise<void> = this.runLane(key).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  /** Resolves when every lane has emptied. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Lets the items in flight finish and returns those never started. */
  async stop(): Promise<T[]> {
    this.stopping = true;
    await this.idle();
    return this.unstarted.splice(0);
  }

  private async runLane(key: string): Promise<void> {
    const lane = this.lanes.get(key)!;
    try {
      for (;;) {
        await this.acquire();
        const item = this.stopping ? undefined : lane.items.shift();
        if (item === undefined) {
          this.release();
          break;
        }
        try {
          await this.work(item, () => this.pace(key, lane.spacingMs));
        } catch (err) {
          this.options.onError?.(err);
        } finally {
          this.release();
        }
      }
    } finally {
      this.unstarted.push(...lane.items.splice(0));
      this.lanes.delete(key);
      if (!this.stopping) this.options.onLaneDone?.(key);
    }
  }

  private async pace(key: string, spacingMs: number): Promise<void> {
    const wait = (this.lastSent.get(key) ?? -Infinity) + spacingMs - this.now();
    if (wait > 0) await this.sleep(wait);
    this.lastSent.set(key, this.now());
  }

  private acquire(): Promise<void> {
    if (this.active < this.options.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot to the next waiting lane, if any. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  private forgetOldSends(): void {
    if (this.lastSent.size < 1000) return;
    const cutoff = this.now() - 60_000;
    for (const [key, at] of this.lastSent) if (at < cutoff && !this.lanes.has(key)) this.lastSent.delete(key);
  }
}
