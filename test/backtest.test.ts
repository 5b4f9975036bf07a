import type { Pool } from 'pg';
import type { PricedRun, RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { expectedDay, tQuantile } from '@libs/stats';
import { isWeekendDay } from '@libs/team-settings';
import { RunsWriter } from '../services/recorder/src/runs.writer';
import { pricedRun, runEvent } from './support/fixtures';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { uid } from './support/stack';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const DOLLAR = 1_000_000_000;
const API_PORT = 18430;
const MAX_RUNS = 10_000;

interface Signal {
  rule: string;
  severity: string;
  first_fired_at: string;
  summary: string;
  observed: number;
  threshold: number;
}
interface Incident {
  incident_id: string;
  agent_id: string | null;
  opened_at: string;
  resolved_at: string | null;
  severity: string;
  signals: Signal[];
}
interface Backtest {
  team: string;
  from: string;
  to: string;
  warmup_from: string;
  settings: Record<string, unknown>;
  overridden: string[];
  runs_replayed: number;
  incidents: Incident[];
  anomalies: {
    rule: string;
    severity: string;
    state: string;
    agent_id: string | null;
    detected_at: string;
    summary: string;
    incident_id: string | null;
  }[];
  counts: { by_rule: Record<string, number>; anomalies: number; incidents: number };
  truncated: boolean;
}
interface ApiError {
  error: { code: string; message: string; details: { field: string; message: string }[] | null };
}

/**
 * A run as the recorder stores it, received today (a backfill, or history the stack has held for weeks): by the wall
 * clock every one of them is late, and the replay must judge them on event time regardless.
 */
function stored(
  team: string,
  agent: string,
  finishedAt: number,
  costNanos: number,
  over: Partial<RunEvent> = {},
) {
  return pricedRun(
    runEvent({
      run_id: `bt-${uid()}`,
      agent_id: agent,
      team,
      provider: 'openai',
      customer_id: 'acme',
      feature: 'inbox',
      finished_at: finishedAt,
      started_at: finishedAt - 2_000,
      received_at: Date.now(),
      ...over,
    }),
    costNanos,
  );
}

describe('POST /v1/backtest (own api process, real PostgreSQL)', () => {
  let api: ServiceProcess;
  let pool: Pool;
  let admin: string;
  let team: string;
  let other: string;
  let bulk: string;
  let crowded: string;
  let key: string;
  let otherKey: string;
  /** The day spend jumps 5× (UTC midnight, ten days ago). */
  const spike = Math.floor(Date.now() / DAY) * DAY - 10 * DAY;

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    admin = (await createKey('_admin', 'admin')).key;
    const id = uid();
    team = `bt-${id}`;
    other = `bt-other-${id}`;
    bulk = `bt-bulk-${id}`;
    crowded = `bt-crowded-${id}`;
    key = (await createKey(team)).key;
    otherKey = (await createKey(other)).key;
    const writer = new RunsWriter(pool);

    // 20 days of steady history: $4 and $16 on alternate days in $1 runs (mean $10/day, σ $6), then 50 runs, $50.
    const runs: PricedRun[] = [];
    for (let d = 20; d >= 1; d--) {
      const n = d % 2 === 0 ? 4 : 16;
      for (let i = 0; i < n; i++) runs.push(stored(team, 'steady', spike - d * DAY + (i + 1) * HOUR, DOLLAR));
    }
    for (let i = 0; i < 50; i++) runs.push(stored(team, 'steady', spike + 600_000 + i * 1_200_000, DOLLAR));
    await writer.write(runs);

    // two pages and more (5,000 a page), with finished_at shared by three runs at a time across the page boundary
    const base = spike - 2 * DAY;
    await writer.write(
      Array.from({ length: 6_001 }, (_, i) =>
        stored(bulk, `agent-${i % 7}`, base + Math.floor(i / 3) * 10_000, 1_000_000, { run_id: `b-${i}` }),
      ),
    );
    // one run over BACKTEST_MAX_RUNS
    for (let k = 0; k <= MAX_RUNS; k += 5_000)
      await writer.write(
        Array.from({ length: Math.min(5_000, MAX_RUNS + 1 - k) }, (_, i) =>
          stored(crowded, 'busy', base + (k + i) * 1_000, 1_000_000),
        ),
      );

    api = await startService('api', API_PORT, { BACKTEST_MAX_RUNS: String(MAX_RUNS) });
  });

  afterAll(async () => {
    await api?.stop();
    await pool?.end();
  });

  const post = async <T = Backtest>(k: string, body: unknown) => {
    const res = await fetch(`${api.url}/v1/backtest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${k}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const range = { from: new Date(spike).toISOString(), to: new Date(spike + DAY).toISOString() };

  it('reports the spend_zscore firing on the day spend jumped 5×, in an incident, with the default settings', async () => {
    const { status, body } = await post(key, range);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      team,
      from: range.from,
      to: range.to,
      // baseline_days (14) + 1 days of warm-up
      warmup_from: new Date(spike - 15 * DAY).toISOString(),
      settings: { team, zscore_threshold: 2.5, baseline_days: 14, min_history_days: 7, timezone: 'UTC' },
      overridden: [],
      truncated: false,
    });
    // the 15 warm-up days (8 of 16 runs, 7 of 4) and the day itself
    expect(body.runs_replayed).toBe(8 * 16 + 7 * 4 + 50);

    const zscore = body.anomalies.filter((a) => a.rule === 'spend_zscore');
    expect(zscore.length).toBeGreaterThan(0);
    const fired = zscore.find((a) => a.state === 'firing')!;
    // judged on event time, as live, against the day's expected spend (its weekday or weekend, the trend) and 2.5σ read
    // at the t quantile of 11 degrees of freedom: worked out here from the same 14 days ($4 and $16 alternately)
    const baselineDays = Array.from({ length: 14 }, (_, i) => spike - (14 - i) * DAY);
    const e = expectedDay(
      baselineDays.map((t) => (Math.round((spike - t) / DAY) % 2 === 0 ? 4 : 16) * DOLLAR),
      baselineDays.map((t) => isWeekendDay(t, 'UTC')),
      isWeekendDay(spike, 'UTC'),
    );
    // the floor: min($1, 2% of the team's $10 a day)
    const margin = Math.max(tQuantile(2.5, 11) * e.stddev, 0.2 * DOLLAR);
    const nth = (line: number, orEqual: boolean) =>
      orEqual ? Math.ceil(line / DOLLAR) : Math.floor(line / DOLLAR) + 1;
    const firstRun = nth(e.expected + margin, false);
    const criticalRun = nth(e.expected + 2 * margin, true);
    expect(firstRun).toBeLessThanOrEqual(50);
    expect(fired).toMatchObject({
      agent_id: 'steady',
      severity: criticalRun === firstRun ? 'critical' : 'error',
    });
    expect(Date.parse(fired.detected_at)).toBe(spike + 600_000 + (firstRun - 1) * 1_200_000);
    expect(fired.summary).toMatch(
      new RegExp(`^steady has spent \\$${firstRun}\\.00 today, [0-9.]+σ above its expected`),
    );
    const escalates = criticalRun <= 50 && criticalRun > firstRun;
    expect(zscore.map((a) => [a.state, a.severity, Date.parse(a.detected_at) - spike])).toEqual([
      ['firing', criticalRun === firstRun ? 'critical' : 'error', 600_000 + (firstRun - 1) * 1_200_000],
      ...(escalates ? [['escalated', 'critical', 600_000 + (criticalRun - 1) * 1_200_000]] : []),
    ]);
    expect(body.anomalies.every((a) => Date.parse(a.detected_at) >= spike)).toBe(true);
    expect(body.counts).toMatchObject({ by_rule: { spend_zscore: 1 }, anomalies: escalates ? 2 : 1 });

    expect(body.incidents).toHaveLength(1);
    const [incident] = body.incidents;
    const severity = criticalRun <= 50 ? 'critical' : 'error';
    expect(incident).toMatchObject({
      incident_id: fired.incident_id,
      agent_id: 'steady',
      opened_at: fired.detected_at,
      resolved_at: null,
      severity,
    });
    expect(incident.signals).toEqual([
      expect.objectContaining({
        rule: 'spend_zscore',
        severity,
        first_fired_at: fired.detected_at,
      }),
    ]);
    expect(incident.signals[0].observed).toBe(escalates ? criticalRun : firstRun);
    expect(incident.signals[0].threshold).toBeCloseTo((e.expected + margin) / DOLLAR, 6);
    expect(body.counts.incidents).toBe(1);
  });

  it('does not fire with zscore_threshold 10 in the body, which changes nothing stored', async () => {
    const { status, body } = await post(key, { ...range, settings: { zscore_threshold: 10 } });
    expect(status).toBe(200);
    expect(body.settings).toMatchObject({ zscore_threshold: 10, baseline_days: 14 });
    expect(body.overridden).toEqual(['zscore_threshold']);
    expect(body.anomalies.filter((a) => a.rule === 'spend_zscore')).toEqual([]);
    expect(body.counts.by_rule.spend_zscore).toBeUndefined();
    const live = await fetch(`${api.url}/v1/teams/${team}/settings`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(await live.json()).toMatchObject({ zscore_threshold: 2.5 });
  });

  it('tries a budget before it exists: a $30 daily team budget fires that day', async () => {
    const { status, body } = await post(admin, {
      ...range,
      team,
      settings: { budgets: [{ scope: 'team', period: 'day', amount: 30, currency: 'USD' }] },
    });
    expect(status).toBe(200);
    expect(body.settings.budgets).toEqual([
      { scope: 'team', period: 'day', amount: { amount: '30', currency: 'USD' }, block_at_100: false },
    ]);
    const budget = body.anomalies.filter((a) => a.rule === 'budget' && a.detected_at >= range.from);
    // the day before ($16) passed 50% during the warm-up: that incident opened before `from` and resolves in range
    const before = body.incidents.find((i) => i.opened_at < range.from)!;
    expect(before).toMatchObject({
      agent_id: null,
      severity: 'warning',
      resolved_at: range.from.replace('00:00:00', '00:10:00'),
    });
    // the day itself: 50% ($15, the 15th run), 80%, 100%
    expect(budget.map((a) => [a.state, a.severity, a.summary.match(/spent (\$[\d.]+)/)![1]])).toEqual([
      ['resolved', 'warning', '$16.00'],
      ['firing', 'warning', '$15.00'],
      ['escalated', 'error', '$24.00'],
      ['escalated', 'critical', '$30.00'],
    ]);
    expect(body.counts.by_rule).toEqual({ budget: 1, spend_zscore: 1 });
    expect(body.counts.incidents).toBe(3);
  });

  it('reads every stored run in event-time order, page after page', async () => {
    const { status, body } = await post(admin, {
      team: bulk,
      from: new Date(spike - DAY).toISOString(),
      to: new Date(spike).toISOString(),
    });
    expect(status).toBe(200);
    expect(body.runs_replayed).toBe(6_001);
  });

  it('runs one backtest of a team at a time: another while it replays is a 429 with Retry-After', async () => {
    const body = { team: bulk, from: new Date(spike - DAY).toISOString(), to: new Date(spike).toISOString() };
    const first = post(admin, body);
    await new Promise((r) => setTimeout(r, 50)); // the first is admitted and replaying its 6,001 runs
    const res = await fetch(`${api.url}/v1/backtest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      `a backtest of team "${bulk}" is already running`,
    );
    expect((await first).status).toBe(200);
    expect((await post(admin, body)).status).toBe(200); // and the next one, once it has answered
  });

  it('keeps a team key to its own team and asks an admin which team', async () => {
    const foreign = await post<ApiError>(otherKey, { ...range, team });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('forbidden');
    const own = await post(otherKey, range);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ team: other, runs_replayed: 0, anomalies: [], incidents: [] });
    const unnamed = await post<ApiError>(admin, range);
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.error.details).toEqual([{ field: 'team', message: 'is required with an admin key' }]);
  });

  it('refuses a range over BACKTEST_MAX_DAYS and a replay over BACKTEST_MAX_RUNS, saying which', async () => {
    const long = await post<ApiError>(key, {
      from: new Date(spike - 40 * DAY).toISOString(),
      to: new Date(spike).toISOString(),
    });
    expect(long.status).toBe(400);
    expect(long.body.error.details).toEqual([
      { field: 'to', message: 'must be at most 31 days after from (BACKTEST_MAX_DAYS)' },
    ]);
    const backwards = await post<ApiError>(key, { from: range.to, to: range.from });
    expect(backwards.status).toBe(400);
    expect(backwards.body.error.details).toEqual([{ field: 'to', message: 'must be after from' }]);

    const crowd = await post<ApiError>(admin, { team: crowded, ...range });
    expect(crowd.status).toBe(400);
    expect(crowd.body.error.message).toMatch(/more than 10000 stored runs \(BACKTEST_MAX_RUNS/);
    expect(crowd.body.error.details).toMatchObject({ field: 'from', max_runs: MAX_RUNS });
  });

  it('names each bad field of the body', async () => {
    const bad = await post<ApiError>(key, {
      from: 'last tuesday',
      settings: { zscore_threshold: 100, baseline_days: 2.5, colour: 'red' },
      extra: 1,
    });
    expect(bad.status).toBe(400);
    const fields = bad.body.error.details!.map((d) => d.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'from',
        'to',
        'settings.zscore_threshold',
        'settings.baseline_days',
        'settings.colour',
        'extra',
      ]),
    );
    expect(bad.body.error.details).toContainEqual({ field: 'to', message: 'is required' });
    const conflict = await post<ApiError>(key, {
      ...range,
      settings: { min_history_days: 14, baseline_days: 7 },
    });
    expect(conflict.status).toBe(400);
    expect(conflict.body.error.details).toEqual([
      { field: 'settings.min_history_days', message: 'cannot exceed baseline_days (7)' },
    ]);
  });

  it('is in the OpenAPI document with the BacktestBody schema', async () => {
    const res = await fetch(`${api.url}/openapi.json`);
    const doc = (await res.json()) as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>
      >;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(doc.paths['/v1/backtest'].post.requestBody?.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/BacktestBody',
    });
    expect(doc.components.schemas.BacktestBody.properties?.settings).toEqual({
      $ref: '#/components/schemas/TeamSettingsBody',
    });
  });
});
