import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { OutgoingRequest } from './messages';
import { pinnedLookup, type DestinationGuard } from './url-guard';

/** How much of a destination's answer is read before the connection is dropped. */
export const MAX_RESPONSE_BYTES = 8 * 1024;

export interface DestinationResponse {
  status: number;
  retryAfter: string | null;
  location: string | null;
  /** At most MAX_RESPONSE_BYTES, as sent: never decompressed. */
  body: Buffer;
}

/** The destination may not be reached (it resolves to an internal address): retrying does not help. */
export class DestinationRefusedError extends Error {
  override readonly name = 'DestinationRefusedError';
}

export interface DestinationClientOptions {
  /** The whole attempt: name check, connect, answer and body. */
  timeoutMs: number;
  maxResponseBytes?: number;
}

/**
 * POSTs a message to a destination once. A tenant's URL is checked (DestinationGuard) right before the request and the
 * connection goes to the checked address; redirects are answers, never followed; the answer is read up to a small cap
 * and never inflated.
 */
export class DestinationClient {
  constructor(
    private readonly guard: DestinationGuard,
    private readonly options: DestinationClientOptions,
  ) {}

  /** `guarded`: the URL is tenant-provided (PagerDuty's endpoint is the operator's and is not checked). */
  async post(req: OutgoingRequest, { guarded }: { guarded: boolean }): Promise<DestinationResponse> {
    const controller = new AbortController();
    const timeout = new Error(`no answer within ${this.options.timeoutMs} ms`);
    const timer = setTimeout(() => controller.abort(timeout), this.options.timeoutMs);
    try {
      let lookup: LookupFunction | undefined;
      if (guarded) {
        const checked = await Promise.race([
          this.guard.check(req.url),
          new Promise<never>((_, reject) =>
            controller.signal.addEventListener('abort', () => reject(timeout)),
          ),
        ]);
        if (checked.status === 'refused') throw new DestinationRefusedError(checked.reason);
        if (checked.status === 'unresolved') throw new Error(checked.reason);
        lookup = pinnedLookup(checked.addresses);
      }
      return await this.send(req, lookup, controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private send(
    req: OutgoingRequest,
    lookup: LookupFunction | undefined,
    signal: AbortSignal,
  ): Promise<DestinationResponse> {
    const cap = this.options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    const url = new URL(req.url);
    const body = Buffer.from(req.body);
    return new Promise((resolve, reject) => {
      const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          headers: {
            ...req.headers,
            'accept-encoding': 'identity',
            'content-length': String(body.length),
            'user-agent': 'burnrate-alert-router',
          },
          // a fresh connection per attempt: a pooled socket would skip the pinned lookup
          agent: false,
          lookup,
          signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const done = (): void => {
            resolve({
              status: res.statusCode ?? 0,
              retryAfter: header(res, 'retry-after'),
              location: header(res, 'location'),
              body: Buffer.concat(chunks).subarray(0, cap),
            });
            request.destroy();
          };
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            size += chunk.length;
            if (size >= cap) done();
          });
          res.on('end', done);
          res.on('error', done);
        },
      );
      request.on('error', (err) => reject(signal.aborted ? (signal.reason as Error) : err));
      request.end(body);
    });
  }
}

function header(res: IncomingMessage, name: string): string | null {
  const v = res.headers[name];
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}
