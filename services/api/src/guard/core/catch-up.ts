/**
 * Whether a reader of a whole topic has caught up with it: every partition read up to the end offset it had when the
 * read started (an empty partition at once), or, for a partition whose last records were compacted away (a trailing
 * tombstone past delete.retention.ms) and that is never read up to its end, fetches coming back empty for `quietMs`.
 * kafkajs starts a fetch only once the batches of the one before are processed, so a fetch that started after another
 * completed with no batch processed in between means nothing more was readable. Once caught up, it stays caught up.
 */
export class CatchUp {
  private readonly positions = new Map<number, bigint>();
  private progressAt: number;
  private fetchedAt = -Infinity;
  private doneAt: number | null = null;
  private quiet = false;

  /** `ends`: each partition's end offset at the start (0 for one with nothing to read). */
  constructor(
    private readonly ends: ReadonlyMap<number, bigint>,
    startedAt: number,
    private readonly quietMs = 3000,
  ) {
    this.progressAt = startedAt;
    this.check(startedAt);
  }

  get caughtUp(): boolean {
    return this.doneAt !== null;
  }

  /** Whether it caught up by the quiet rule rather than by offsets. */
  get byQuiet(): boolean {
    return this.quiet;
  }

  /** The partitions not read up to their end yet. */
  behind(): number[] {
    return [...this.ends].filter(([p, end]) => (this.positions.get(p) ?? 0n) < end).map(([p]) => p);
  }

  /** A batch of a partition was processed, up to `lastOffset` (its records, control records and gaps included). */
  batchProcessed(partition: number, lastOffset: bigint, now: number): void {
    this.positions.set(partition, lastOffset + 1n);
    this.progressAt = now;
    this.check(now);
  }

  /** A fetch returned (its batches not processed yet). */
  fetched(now: number): void {
    this.fetchedAt = now;
  }

  /** A fetch starts: whatever the fetch before returned has been processed. */
  fetchStarting(now: number): void {
    if (this.doneAt !== null) return;
    if (this.fetchedAt > this.progressAt && now - this.progressAt >= this.quietMs) {
      this.quiet = this.behind().length > 0;
      this.doneAt = now;
    }
  }

  private check(now: number): void {
    if (this.doneAt === null && this.behind().length === 0) this.doneAt = now;
  }
}
