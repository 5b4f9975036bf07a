import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** The CAs an https server's certificate is checked against, instead of the default ones. */
  ca?: string | string[];
  timeoutMs: number;
}

export interface HttpResponse {
  status: number;
  body: string;
}

/** Answers are read up to this much; the rest is dropped (a token or a health answer is far smaller). */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * One HTTP(S) request on node:http(s) rather than global fetch: fetch takes a per-request CA only through an undici
 * Agent, and undici is not a dependency. Rejects on a network error or the timeout, never on a status.
 */
export function requestText(url: string, init: HttpRequest): Promise<HttpResponse> {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      target,
      {
        method: init.method ?? 'GET',
        headers: {
          ...init.headers,
          ...(init.body !== undefined && { 'content-length': String(Buffer.byteLength(init.body)) }),
        },
        signal: AbortSignal.timeout(init.timeoutMs),
        ...(https && init.ca !== undefined && { ca: init.ca }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < MAX_BODY_BYTES) chunks.push(chunk.subarray(0, MAX_BODY_BYTES - size));
          size += chunk.length;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (err) =>
      reject(err.name === 'AbortError' ? new Error(`no answer within ${init.timeoutMs} ms`) : err),
    );
    req.end(init.body);
  });
}
