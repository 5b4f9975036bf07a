import { RetryableError, parseRetryAfter, type Delivered, type Sink } from './sink';
import type { DeliveryFailure, FieldError, SdkRun } from './types';

/** POST /v1/runs's per-run answer (services/ingestion). */
interface IngestAnswer {
  accepted?: number;
  results?: { index: number; status: 'accepted' | 'rejected'; errors?: FieldError[] }[];
  error?: { code?: string; message?: string };
}

/** A run as POST /v1/runs takes it: ISO-8601 times. */
export function toJson(run: SdkRun): Record<string, unknown> {
  return {
    ...run,
    started_at: new Date(run.started_at).toISOString(),
    finished_at: new Date(run.finished_at).toISOString(),
  };
}

/**
 * Batches to ingestion's `POST {ingestUrl}/v1/runs`. 202 (some accepted) and 400 with per-run results report each
 * refused run; 429, 5xx, a network error or a timeout are retryable; any other 4xx refuses the whole batch.
 */
export class HttpSink implements Sink {
  private readonly url: string;

  constructor(
    ingestUrl: string,
    private readonly apiKey: string,
    private readonly timeoutMs: number,
  ) {
    this.url = `${ingestUrl.replace(/\/+$/, '')}/v1/runs`;
  }

  async deliver(batch: SdkRun[]): Promise<Delivered> {
    let res: Response;
    let answer: IngestAnswer | null;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.apiKey}` },
        body: JSON.stringify(batch.map(toJson)),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      answer = (await res.json().catch(() => null)) as IngestAnswer | null;
    } catch (err) {
      throw new RetryableError(`POST ${this.url} failed: ${(err as Error).message}`);
    }
    if (res.status === 429 || res.status >= 500) {
      throw new RetryableError(
        `ingestion answered ${res.status}${answer?.error?.message ? `: ${answer.error.message}` : ''}`,
        res.status,
        parseRetryAfter(res.headers.get('retry-after')),
      );
    }
    if (Array.isArray(answer?.results)) {
      const rejected = answer.results.filter((r) => r.status === 'rejected');
      const failures: DeliveryFailure[] = rejected.length
        ? [
            {
              reason: 'rejected',
              status: res.status,
              message: `ingestion rejected ${rejected.length} of ${batch.length} runs`,
              runs: rejected.map((r) => ({ run: batch[r.index], errors: r.errors ?? [] })),
            },
          ]
        : [];
      return { sent: batch.length - rejected.length, failures };
    }
    if (res.ok) return { sent: batch.length, failures: [] };
    return {
      sent: 0,
      failures: [
        {
          reason: 'refused',
          status: res.status,
          message: `ingestion refused the batch (${res.status} ${answer?.error?.code ?? ''}): ${answer?.error?.message ?? res.statusText}`,
          runs: batch.map((run) => ({ run, errors: [] })),
        },
      ],
    };
  }
}
