import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as a local server saw it. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface LocalServer {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

type Handler = (req: Seen, res: ServerResponse) => void | Promise<void>;

/** An HTTP server on 127.0.0.1 and a free port, recording every request (its body parsed as JSON when it is). */
export async function localServer(handler: Handler): Promise<LocalServer> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        // not JSON: kept as text
      }
      const request: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(request);
      void Promise.resolve(handler(request, res)).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Server-sent events: each `[event name or null, data]`, then the end of the response. */
export function sse(res: ServerResponse, events: [string | null, unknown][]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [event, data] of events) {
    res.write(
      `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`,
    );
  }
  res.end();
}

/** Ingestion's POST /v1/runs, answering as services/ingestion does (every run accepted unless `answer` says else). */
export async function ingestionStandIn(
  answer?: (runs: Record<string, unknown>[], attempt: number, res: ServerResponse) => boolean,
): Promise<LocalServer & { runs: Record<string, unknown>[] }> {
  const runs: Record<string, unknown>[] = [];
  let attempt = 0;
  const server = await localServer((req, res) => {
    const batch = (Array.isArray(req.body) ? req.body : [req.body]) as Record<string, unknown>[];
    if (answer?.(batch, attempt++, res)) return;
    runs.push(...batch);
    json(res, 202, {
      accepted: batch.length,
      rejected: 0,
      results: batch.map((r, index) => ({ index, run_id: r.run_id, status: 'accepted' })),
    });
  });
  return Object.assign(server, { runs });
}

/** Runs posted so far, once `count` of them have arrived. */
export async function runsArrived(
  server: { runs: Record<string, unknown>[] },
  count: number,
  timeoutMs = 5000,
): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  while (server.runs.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} runs, got ${server.runs.length}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return server.runs;
}
