import { BufferedTransport, type TransportOptions } from './buffered-transport';
import { HttpSink } from './http-sink';
import { parseRetryAfter } from './sink';
import { ingestionStandIn, json, localServer, runsArrived } from './spec-support/servers';
import type { DeliveryFailure, SdkRun } from './types';

let n = 0;
const run = (over: Partial<SdkRun> = {}): SdkRun => ({
  run_id: `run-${++n}`,
  agent_id: 'support-triage',
  model: 'gpt-4o-2024-08-06',
  provider: 'openai',
  input_tokens: 100,
  output_tokens: 10,
  cache_read_tokens: null,
  cache_write_tokens: null,
  cache_write_1h_tokens: null,
  started_at: Date.now() - 1000,
  finished_at: Date.now(),
  status: 'success',
  customer_id: null,
  feature: null,
  cost_centre: null,
  session_id: null,
  tool: null,
  parent_run_id: null,
  tags: {},
  source: 'sdk',
  ...over,
});

describe(BufferedTransport.name, () => {
  const open: { shutdown(ms: number): Promise<void> }[] = [];
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.shutdown(100)));
    await Promise.all(closers.splice(0).map((c) => c()));
  });

  function transport(url: string, over: Partial<TransportOptions> = {}) {
    const failures: DeliveryFailure[] = [];
    const sut = new BufferedTransport(
      new HttpSink(url, 'br_test_key', 2000),
      {
        flushIntervalMs: 3_600_000,
        maxBatch: 500,
        maxBuffer: 10_000,
        maxRetries: 3,
        initialBackoffMs: 10,
        maxBackoffMs: 50,
        onError: (f) => failures.push(f),
        ...over,
      },
      () => 1,
    );
    open.push(sut);
    return { sut, failures };
  }

  it.each([
    ['429, Retry-After in seconds', 429, () => '1'],
    ['503, Retry-After as an HTTP date', 503, () => new Date(Date.now() + 2000).toUTCString()],
  ])('waits as long as the answer says: %s', async (_, status, retryAfter) => {
    const arrivals: number[] = [];
    const ingestion = await ingestionStandIn((_batch, attempt, res) => {
      arrivals.push(Date.now());
      if (attempt > 0) return false;
      json(
        res,
        status,
        { error: { code: 'unavailable', message: 'later' } },
        { 'retry-after': retryAfter() },
      );
      return true;
    });
    closers.push(ingestion.close);
    const { sut, failures } = transport(ingestion.url);
    const sent = run();
    sut.add(sent);
    await sut.flush();
    expect(arrivals).toHaveLength(2);
    // Without Retry-After the back-off here is 10 ms.
    expect(arrivals[1] - arrivals[0]).toBeGreaterThanOrEqual(950);
    expect(ingestion.runs.map((r) => r.run_id)).toEqual([sent.run_id]);
    expect(sut.stats()).toEqual({ sent: 1, dropped: 0, failed: 0, buffered: 0 });
    expect(failures).toEqual([]);
  });

  it('retries network errors with capped exponential back-off, then gives the batch up and reports it', async () => {
    const gone = await localServer(() => undefined);
    await gone.close();
    const { sut, failures } = transport(gone.url, { maxRetries: 3, initialBackoffMs: 40, maxBackoffMs: 100 });
    const started = Date.now();
    sut.add(run());
    await sut.flush();
    // 40 + 80 + 100 (capped), with the jitter at its top.
    expect(Date.now() - started).toBeGreaterThanOrEqual(210);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ reason: 'gave_up', status: null });
    expect(failures[0].message).toMatch(/gave up after 4 attempts/);
    expect(sut.stats()).toMatchObject({ sent: 0, failed: 1, buffered: 0 });
  });

  it('keeps at most maxBuffer runs, dropping the oldest and counting them', async () => {
    const ingestion = await ingestionStandIn();
    closers.push(ingestion.close);
    const { sut } = transport(ingestion.url, { maxBuffer: 5 });
    const runs = Array.from({ length: 8 }, () => run());
    for (const r of runs) sut.add(r);
    expect(sut.stats()).toEqual({ sent: 0, dropped: 3, failed: 0, buffered: 5 });
    await sut.flush();
    expect(ingestion.runs.map((r) => r.run_id)).toEqual(runs.slice(3).map((r) => r.run_id));
    expect(sut.stats()).toEqual({ sent: 5, dropped: 3, failed: 0, buffered: 0 });
  });

  it('sends a full batch at once, and the rest on the timer, as JSON arrays with the key', async () => {
    const ingestion = await ingestionStandIn();
    closers.push(ingestion.close);
    const { sut } = transport(ingestion.url, { maxBatch: 3, flushIntervalMs: 3000 });
    for (let i = 0; i < 3; i++) sut.add(run());
    await runsArrived(ingestion, 3, 1000);
    expect(ingestion.seen[0].body).toHaveLength(3);
    sut.add(run());
    await new Promise((r) => setTimeout(r, 50));
    expect(ingestion.runs).toHaveLength(3);
    await runsArrived(ingestion, 4, 5000);
    expect(ingestion.seen[1].body).toHaveLength(1);
    expect(ingestion.seen[0].headers.authorization).toBe('Bearer br_test_key');
    expect((ingestion.seen[0].body as Record<string, unknown>[])[0].started_at).toMatch(/Z$/);
  });

  it('reports the runs of a partly accepted batch that ingestion rejected, with their errors', async () => {
    const ingestion = await ingestionStandIn((batch, _attempt, res) => {
      json(res, 202, {
        accepted: 1,
        rejected: 1,
        results: [
          { index: 0, run_id: batch[0].run_id, status: 'accepted' },
          {
            index: 1,
            run_id: batch[1].run_id,
            status: 'rejected',
            errors: [{ field: 'input_tokens', message: 'must not be negative' }],
          },
        ],
      });
      return true;
    });
    closers.push(ingestion.close);
    const { sut, failures } = transport(ingestion.url);
    const bad = run({ input_tokens: -1 });
    sut.add(run());
    sut.add(bad);
    await sut.flush();
    expect(failures).toEqual([
      {
        reason: 'rejected',
        status: 202,
        message: 'ingestion rejected 1 of 2 runs',
        runs: [{ run: bad, errors: [{ field: 'input_tokens', message: 'must not be negative' }] }],
      },
    ]);
    expect(sut.stats()).toEqual({ sent: 1, dropped: 0, failed: 1, buffered: 0 });
  });

  it('drops a batch refused with a 4xx other than 429 without retrying it', async () => {
    const ingestion = await ingestionStandIn((_batch, _attempt, res) => {
      json(res, 401, { error: { code: 'unauthenticated', message: 'unknown API key', details: null } });
      return true;
    });
    closers.push(ingestion.close);
    const { sut, failures } = transport(ingestion.url);
    sut.add(run());
    sut.add(run());
    await sut.flush();
    expect(ingestion.seen).toHaveLength(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ reason: 'refused', status: 401 });
    expect(failures[0].message).toMatch(/unauthenticated.*unknown API key/);
    expect(sut.stats()).toMatchObject({ sent: 0, failed: 2 });
  });

  it('flushes on shutdown, then refuses later runs', async () => {
    const ingestion = await ingestionStandIn();
    closers.push(ingestion.close);
    const { sut, failures } = transport(ingestion.url);
    sut.add(run());
    sut.add(run());
    await sut.shutdown(5000);
    expect(ingestion.runs).toHaveLength(2);
    sut.add(run());
    expect(failures).toEqual([
      expect.objectContaining({ reason: 'gave_up', message: 'the client was shut down' }),
    ]);
  });

  it('gives up on shutdown after its timeout, reporting what was left', async () => {
    const ingestion = await ingestionStandIn((_batch, _attempt, res) => {
      json(res, 503, { error: { code: 'unavailable' } }, { 'retry-after': '60' });
      return true;
    });
    closers.push(ingestion.close);
    const { sut, failures } = transport(ingestion.url, { maxBatch: 1 });
    sut.add(run());
    sut.add(run());
    const started = Date.now();
    await sut.shutdown(300);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(failures.flatMap((f) => f.runs)).toHaveLength(2);
    expect(sut.stats()).toMatchObject({ failed: 2, buffered: 0 });
  });
});

describe(parseRetryAfter.name, () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-06-09T09:14:00Z');
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter('Tue, 09 Jun 2026 09:14:07 GMT', now)).toBe(7000);
    expect(parseRetryAfter('Tue, 09 Jun 2026 09:13:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});
