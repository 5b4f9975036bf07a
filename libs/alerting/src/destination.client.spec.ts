import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { DestinationClient, DestinationRefusedError, MAX_RESPONSE_BYTES } from './destination.client';
import { DestinationAllowList, DestinationGuard, type ResolvedAddress } from './url-guard';

/** A loopback receiver: the client is tested against a real socket, as the style asks of providers. */
async function receiver(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    req.resume();
    req.on('end', () => handle(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, requests };
}

const post = (url: string) => ({ url, headers: { 'content-type': 'application/json' }, body: '{}' });

describe(DestinationClient.name, () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(
      servers.splice(0).map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r)))),
    );
  });
  const start = async (handle: (req: IncomingMessage, res: ServerResponse) => void) => {
    const r = await receiver(handle);
    servers.push(r.server);
    return r;
  };
  const allowLoopback = (answers: Record<string, string[]> = {}) =>
    new DestinationGuard(DestinationAllowList.parse('127.0.0.1'), async (host) => {
      if (!answers[host]) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      return answers[host].map((address): ResolvedAddress => ({ address, family: 4 }));
    });

  it('connects to the address it checked, not to what the name resolves to later', async () => {
    const { port, requests } = await start((_req, res) => res.writeHead(202).end());
    let calls = 0;
    // the first answer is checked and pinned; were the connection to look the name up again it would get 10.0.0.1
    const guard = new DestinationGuard(DestinationAllowList.parse('127.0.0.1'), async () =>
      calls++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '10.0.0.1', family: 4 }],
    );
    const sut = new DestinationClient(guard, { timeoutMs: 2000 });
    const res = await sut.post(post(`http://hooks.example.test:${port}/x`), { guarded: true });
    expect(res.status).toBe(202);
    expect(requests[0].headers.host).toBe(`hooks.example.test:${port}`);
    expect(calls).toBe(1);
    // and the next attempt checks again
    await expect(sut.post(post(`http://hooks.example.test:${port}/x`), { guarded: true })).rejects.toThrow(
      new DestinationRefusedError(
        'destination resolves to a private address 10.0.0.1; not in ALERT_DESTINATION_ALLOWLIST',
      ),
    );
    expect(requests).toHaveLength(1);
  });

  it('refuses an internal destination without connecting', async () => {
    const { port, requests } = await start((_req, res) => res.writeHead(202).end());
    const sut = new DestinationClient(new DestinationGuard(DestinationAllowList.empty), { timeoutMs: 2000 });
    await expect(sut.post(post(`http://127.0.0.1:${port}/`), { guarded: true })).rejects.toBeInstanceOf(
      DestinationRefusedError,
    );
    expect(requests).toHaveLength(0);
    // the operator's own endpoint (PagerDuty's URL) is not a tenant's and is not checked
    expect((await sut.post(post(`http://127.0.0.1:${port}/`), { guarded: false })).status).toBe(202);
  });

  it('answers a redirect with its status and never follows it', async () => {
    const { port, requests } = await start((req, res) => {
      if (req.url === '/start') res.writeHead(307, { location: `http://127.0.0.1:${port}/target` }).end();
      else res.writeHead(200).end();
    });
    const sut = new DestinationClient(allowLoopback(), { timeoutMs: 2000 });
    const res = await sut.post(post(`http://127.0.0.1:${port}/start`), { guarded: true });
    expect(res).toMatchObject({ status: 307, location: `http://127.0.0.1:${port}/target` });
    expect(requests.map((r) => r.url)).toEqual(['/start']);
  });

  it('reads at most the cap of an endless answer and drops the connection', async () => {
    let written = 0;
    let closed = false;
    await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = (): void => {
        while (!closed && written < 512 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      res.on('close', () => (closed = true));
      pump();
    });
    const port = (servers[0].address() as AddressInfo).port;
    const sut = new DestinationClient(allowLoopback(), { timeoutMs: 5000 });
    const res = await sut.post(post(`http://127.0.0.1:${port}/`), { guarded: true });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(MAX_RESPONSE_BYTES);
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(true);
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('asks for no compression and never inflates what comes back', async () => {
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
    let asked: string | undefined;
    const { port } = await start((req, res) => {
      asked = req.headers['accept-encoding'];
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(bomb);
    });
    const sut = new DestinationClient(allowLoopback(), { timeoutMs: 2000 });
    const res = await sut.post(post(`http://127.0.0.1:${port}/`), { guarded: true });
    expect(asked).toBe('identity');
    expect(res.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(res.body.length).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
  });

  it('gives up on a destination that does not answer within the timeout', async () => {
    const { port } = await start(() => undefined);
    const sut = new DestinationClient(allowLoopback(), { timeoutMs: 200 });
    await expect(sut.post(post(`http://127.0.0.1:${port}/`), { guarded: true })).rejects.toThrow(
      'no answer within 200 ms',
    );
  });
});
