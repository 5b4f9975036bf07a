import { RetryableError, type Sink } from './sink';
import type { DeliveryFailure, SdkRun } from './types';

export interface TransportOptions {
  /** Flush at least this often (ms). */
  flushIntervalMs: number;
  /** Runs per request; a full batch is flushed at once. */
  maxBatch: number;
  /** Runs held at most; when full, the oldest is dropped (and counted). */
  maxBuffer: number;
  /** Attempts after the first before a batch is given up. */
  maxRetries: number;
  /** The first back-off (ms); it doubles per attempt up to maxBackoffMs. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  onError: (failure: DeliveryFailure) => void;
}

interface Counters {
  sent: number;
  dropped: number;
  failed: number;
}

/**
 * A bounded buffer of runs in front of a sink: flushed every `flushIntervalMs` or as soon as `maxBatch` runs wait, one
 * batch at a time, each retried with capped exponential back-off (or the receiver's Retry-After) while the sink says it
 * may be. Its timers are unref'd: it never keeps a process alive on its own.
 */
export class BufferedTransport {
  private buffer: SdkRun[] = [];
  private inFlight = 0;
  private draining: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly counters: Counters = { sent: 0, dropped: 0, failed: 0 };
  private closing = false;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly sink: Sink,
    private readonly options: TransportOptions,
    private readonly random: () => number = Math.random,
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  add(run: SdkRun): void {
    if (this.stopped) {
      this.fail({
        reason: 'gave_up',
        status: null,
        message: 'the client was shut down',
        runs: [{ run, errors: [] }],
      });
      return;
    }
    this.buffer.push(run);
    if (this.buffer.length > this.options.maxBuffer) {
      this.buffer.shift();
      this.counters.dropped++;
    }
    if (this.buffer.length >= this.options.maxBatch && this.draining === null) void this.flush();
  }

  stats(): Counters & { buffered: number } {
    return { ...this.counters, buffered: this.buffer.length + this.inFlight };
  }

  /** Sends everything buffered now, and resolves when the buffer is empty (or the transport was stopped). */
  async flush(): Promise<void> {
    do {
      this.draining ??= this.drain().finally(() => (this.draining = null));
      await this.draining;
    } while (this.buffer.length > 0 && !this.stopped);
  }

  /**
   * Flushes (retrying with timers that now hold the process open) for at most `timeoutMs`, then stops: what is still
   * buffered is reported as given up. Later runs are refused.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    this.closing = true;
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((resolve) => (timeout = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timeout);
    this.stopped = true;
    this.wake?.();
    await this.draining;
    const left = this.buffer.splice(0);
    if (left.length > 0) {
      this.fail({
        reason: 'gave_up',
        status: null,
        message: `not delivered within the shutdown timeout (${timeoutMs} ms)`,
        runs: left.map((run) => ({ run, errors: [] })),
      });
    }
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0 && !this.stopped) {
      const batch = this.buffer.splice(0, this.options.maxBatch);
      this.inFlight = batch.length;
      try {
        await this.deliver(batch);
      } finally {
        this.inFlight = 0;
      }
    }
  }

  private async deliver(batch: SdkRun[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let last: RetryableError | Error;
      try {
        const { sent, failures } = await this.sink.deliver(batch);
        this.counters.sent += sent;
        for (const f of failures) this.fail(f);
        return;
      } catch (err) {
        last = err instanceof Error ? err : new Error(String(err));
      }
      const retryable = last instanceof RetryableError;
      if (!retryable || attempt >= this.options.maxRetries || this.stopped) {
        this.fail({
          reason: retryable ? 'gave_up' : 'refused',
          status: last instanceof RetryableError ? last.status : null,
          message: retryable
            ? `gave up after ${attempt + 1} attempts: ${last.message}`
            : `could not deliver: ${last.message}`,
          runs: batch.map((run) => ({ run, errors: [] })),
        });
        return;
      }
      await this.sleep(this.backoff(attempt, (last as RetryableError).retryAfterMs));
    }
  }

  /** The receiver's Retry-After when it gave one, else capped exponential back-off with jitter (half to all of it). */
  private backoff(attempt: number, retryAfterMs: number | null): number {
    if (retryAfterMs !== null) return retryAfterMs;
    const ceiling = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** attempt);
    return ceiling / 2 + (this.random() * ceiling) / 2;
  }

  /** A wait that shutdown can cut short, unref'd unless the client is shutting down (then it must finish its work). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (!this.closing) timer.unref();
      this.wake = done;
    });
  }

  private fail(failure: DeliveryFailure): void {
    this.counters.failed += failure.runs.length;
    try {
      this.options.onError(failure);
    } catch {
      // a throwing callback must not stop delivery
    }
  }
}
