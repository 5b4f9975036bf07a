import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { routesFor } from './routing';
import { RouteRepository, RouteValidationError, destinationKey, parseRoute } from './route.repository';
import type { Anomaly, Destination, Route } from './types';

const noDbRoutes = { query: async () => ({ rows: [] }) } as unknown as Pool;

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const resolve = async (host: string) => {
  const answers: Record<string, string[]> = {
    'hooks.example.com': ['93.184.215.14'],
    'rebound.example.com': ['10.0.0.1'],
    'corp-relay.example.com': ['192.168.7.7'],
  };
  if (!answers[host]) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return answers[host].map((address) => ({ address, family: 4 as const }));
};

function recordingPool(): { pool: Pool; inserted: unknown[][] } {
  const inserted: unknown[][] = [];
  const pool = {
    query: async (_sql: string, params: unknown[]) => {
      inserted.push(params);
      return { rows: [], rowCount: 1 };
    },
  } as unknown as Pool;
  return { pool, inserted };
}

/** alert_routes holding `routes` (secrets in plain text, as before sealing) and alert_destination_status in memory. */
function statusPool(routes: Route[]): { pool: Pool; queries: string[] } {
  const status = new Map<string, { disabled_at: Date; reason: string }>();
  const queries: string[] = [];
  const pool = {
    query: async (sql: string, params: unknown[] = []) => {
      queries.push(sql);
      if (sql.includes('from alert_routes'))
        return { rows: routes.map((r, i) => ({ ...r, created_at: new Date(1_767_225_600_000 + i) })) };
      if (sql.startsWith('insert into alert_destination_status')) {
        const [key, reason] = params as [string, string];
        status.set(key, { disabled_at: status.get(key)?.disabled_at ?? new Date(), reason });
        return { rows: [], rowCount: 1 };
      }
      if (sql.startsWith('delete from alert_destination_status'))
        return { rows: [], rowCount: status.delete(params[0] as string) ? 1 : 0 };
      if (sql.includes('any($1)'))
        return {
          rows: [...status]
            .filter(([k]) => (params[0] as string[]).includes(k))
            .map(([destination_key, s]) => ({ destination_key, ...s })),
        };
      if (sql.includes('from alert_destination_status'))
        return { rows: [...status.keys()].map((destination_key) => ({ destination_key })) };
      throw new Error(`unexpected query ${sql}`);
    },
  } as unknown as Pool;
  return { pool, queries };
}

const problemsOf = async (p: Promise<unknown>): Promise<string[]> => {
  try {
    await p;
  } catch (err) {
    if (err instanceof RouteValidationError) return err.problems;
    throw err;
  }
  return [];
};

describe(RouteRepository.name, () => {
  it('loads routes from a YAML file (a mounted ConfigMap) beside the database ones, secrets masked on listing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'routes-'));
    const file = join(dir, 'routes.yaml');
    writeFileSync(
      file,
      [
        'routes:',
        '  - team: support',
        '    match: { agent_id: "research-*", severity: [critical, error] }',
        '    destinations:',
        '      - { type: pagerduty, routing_key: R0UT1NGKEY0123456789abcdefABCDEF }',
        '  - match: {}',
        '    destinations:',
        '      - { type: slack, webhook_url: "https://hooks.slack.com/services/T0/B0/SECRET" }',
      ].join('\n'),
    );
    const sut = new RouteRepository(noDbRoutes, file);
    const routes = await sut.all();
    expect(routes.map((r) => [r.id, r.team])).toEqual([
      ['file:0', 'support'],
      ['file:1', null],
    ]);
    const listed = JSON.stringify(await sut.list('support'));
    expect(listed).not.toMatch(/R0UT1NGKEY|SECRET/);
  });

  it('leaves a disabled destination out of routing and shows it disabled, until it is enabled again', async () => {
    const gone: Destination = { type: 'webhook', url: 'https://hooks.example.com/gone', secret: SECRET };
    const pager: Destination = { type: 'pagerduty', routing_key: 'R0UT1NGKEY0123456789abcdefABCDEF' };
    const { pool } = statusPool([
      { id: 'research', team: 'support', match: { agent_id: 'research-*' }, destinations: [gone] },
      { id: 'default', team: 'support', match: {}, destinations: [gone, pager] },
    ]);
    const sut = new RouteRepository(pool);
    const anomaly = (agent_id: string) => ({
      team: 'support',
      agent_id,
      rule: 'zscore',
      severity: 'critical',
    });
    const paged = async (agent_id: string) =>
      routesFor(anomaly(agent_id) as Anomaly, await sut.all()).flatMap((r) => r.destinations);
    expect(await paged('research-1')).toEqual([gone]);

    await sut.disableDestination(destinationKey(gone), 'HTTP 410 from the receiver');
    // the route it was the only destination of still matches (its anomalies do not fall to the default): nobody paged
    expect(await paged('research-1')).toEqual([]);
    expect(await paged('triage')).toEqual([pager]);
    const listed = await sut.list('support');
    expect(listed.map((r) => r.destinations.map((d) => d.disabled?.reason ?? null))).toEqual([
      ['HTTP 410 from the receiver'],
      ['HTTP 410 from the receiver', null],
    ]);
    expect(listed[0].destinations[0]).toEqual({
      type: 'webhook',
      url: 'https://hooks.example.com/****',
      secret: '****LaSw',
      disabled: { at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), reason: 'HTTP 410 from the receiver' },
    });
    expect(JSON.stringify(listed)).not.toContain(SECRET);
    expect((await sut.find('default'))!.destinations).toEqual([gone, pager]); // the API's indexes: all of them

    expect(await sut.enableDestination(destinationKey(gone))).toBe(true);
    expect(await sut.enableDestination(destinationKey(gone))).toBe(false);
    expect(await paged('research-1')).toEqual([gone]);
    expect((await sut.list('support')).flatMap((r) => r.destinations).some((d) => d.disabled)).toBe(false);
  });

  it('routes from the cache: one read of the routes and the disabled destinations per refresh', async () => {
    const { pool, queries } = statusPool([
      { id: 'r', team: 'support', match: {}, destinations: [{ type: 'email', to: ['a@example.com'] }] },
    ]);
    const sut = new RouteRepository(pool);
    await sut.all();
    await sut.all();
    await sut.all();
    expect(queries).toHaveLength(2);
  });

  it("tells an api route's team (null: the catch-all), and undefined for an id with no api route", async () => {
    const stored: { id: string; team: string | null; source: string }[] = [
      { id: 'a', team: 'support', source: 'api' },
      { id: 'b', team: null, source: 'api' },
      { id: 'c', team: 'support', source: 'file' },
    ];
    const queries: string[] = [];
    const pool = {
      query: async (sql: string, [id]: unknown[]) => {
        queries.push(sql);
        return {
          rows: stored.filter((r) => r.id === id && r.source === 'api').map(({ team }) => ({ team })),
        };
      },
    } as unknown as Pool;
    const sut = new RouteRepository(pool);
    expect(await sut.apiRouteTeam('a')).toBe('support');
    expect(await sut.apiRouteTeam('b')).toBeNull();
    expect(await sut.apiRouteTeam('c')).toBeUndefined();
    expect(await sut.apiRouteTeam('missing')).toBeUndefined();
    expect(queries).toEqual(Array(4).fill("select team from alert_routes where id = $1 and source = 'api'"));
  });

  it('names every problem of a bad route', () => {
    let caught: unknown;
    try {
      parseRoute({
        team: 'support',
        match: { severity: 'critical' },
        destinations: [{ type: 'pagerduty', routing_key: 'short' }, { type: 'fax' }],
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RouteValidationError);
    expect((caught as RouteValidationError).problems).toEqual([
      'route.match.severity must be a list of strings',
      'route.destinations[0].routing_key must be a 32-character PagerDuty integration key',
      'route.destinations[1].type must be one of webhook, slack, pagerduty, teams, email',
    ]);
  });

  it('refuses destinations that resolve to internal addresses, naming the field and the reason', async () => {
    const { pool, inserted } = recordingPool();
    const sut = new RouteRepository(pool, undefined, { resolve });
    const problems = await problemsOf(
      sut.create({
        team: 'support',
        destinations: [
          { type: 'webhook', url: 'http://127.0.0.1:8080/hook', secret: SECRET },
          { type: 'slack', webhook_url: 'https://rebound.example.com/services/x' },
          { type: 'teams', webhook_url: 'http://169.254.169.254/latest/meta-data/' },
          { type: 'webhook', url: 'http://api.burnrate.svc.cluster.local/', secret: SECRET },
          { type: 'webhook', url: 'https://hooks.example.com/ok', secret: SECRET },
          { type: 'pagerduty', routing_key: 'R0UT1NGKEY0123456789abcdefABCDEF' },
        ],
      }),
    );
    expect(problems).toEqual([
      'route.destinations[0].url: destination resolves to a loopback address 127.0.0.1; not in ALERT_DESTINATION_ALLOWLIST',
      'route.destinations[1].webhook_url: destination resolves to a private address 10.0.0.1; not in ALERT_DESTINATION_ALLOWLIST',
      'route.destinations[2].webhook_url: destination resolves to a link-local address 169.254.169.254; not in ALERT_DESTINATION_ALLOWLIST',
      'route.destinations[3].url: destination host "api.burnrate.svc.cluster.local" is a cluster-internal name; not in ALERT_DESTINATION_ALLOWLIST',
    ]);
    expect(inserted).toEqual([]);
  });

  it('admits what ALERT_DESTINATION_ALLOWLIST lists, and a name that does not resolve yet (checked again on send)', async () => {
    const { pool, inserted } = recordingPool();
    const sut = new RouteRepository(pool, undefined, {
      allowList: '127.0.0.1, corp-relay.example.com',
      resolve,
    });
    const route = await sut.create({
      team: 'support',
      destinations: [
        { type: 'webhook', url: 'http://127.0.0.1:8080/hook', secret: SECRET, extra: 'x'.repeat(10_000) },
        { type: 'slack', webhook_url: 'https://corp-relay.example.com/slack' },
        { type: 'teams', webhook_url: 'https://not-yet.example.com/teams' },
      ],
    });
    expect(route.destinations[0]).toEqual({
      type: 'webhook',
      url: 'http://127.0.0.1:8080/hook',
      secret: SECRET,
    });
    expect(inserted).toHaveLength(1);
  });

  it('refuses an allow-list entry it cannot read', () => {
    expect(() => new RouteRepository(noDbRoutes, undefined, { allowList: '10.0.0.0/99' })).toThrow(
      /ALERT_DESTINATION_ALLOWLIST: "10.0.0.0\/99" is not a hostname, host:port or CIDR/,
    );
  });

  it('bounds the number of destinations and the size of every string in a route', () => {
    const problems = (input: unknown): string[] => {
      try {
        parseRoute(input);
        return [];
      } catch (err) {
        return (err as RouteValidationError).problems;
      }
    };
    const hook = { type: 'webhook', url: 'https://hooks.example.com/x', secret: SECRET };
    expect(problems({ destinations: Array.from({ length: 11 }, () => hook) })).toEqual([
      'route.destinations has 11 entries; a route may have at most 10',
    ]);
    expect(problems({ destinations: Array.from({ length: 10 }, () => hook) })).toEqual([]);
    expect(
      problems({
        team: 't'.repeat(129),
        match: {
          agent_id: '*'.repeat(257),
          rule: Array.from({ length: 21 }, () => 'budget'),
          severity: ['x'.repeat(65)],
        },
        destinations: [
          { type: 'webhook', url: `https://hooks.example.com/${'x'.repeat(2048)}`, secret: SECRET },
          { type: 'email', to: Array.from({ length: 21 }, (_, i) => `a${i}@example.com`) },
          { type: 'webhook', url: 'https://hooks.example.com/x', secret: `whsec_${'A'.repeat(600)}` },
        ],
      }),
    ).toEqual([
      'route.team must be a team name (at most 128 characters) or null (catch-all)',
      'route.match.agent_id must be a glob string of at most 256 characters',
      'route.match.rule must have at most 20 entries of at most 64 characters',
      'route.match.severity must have at most 20 entries of at most 64 characters',
      'route.destinations[0].url must be at most 2048 characters',
      'route.destinations[1].to must be a list of 1 to 20 email addresses',
      'route.destinations[2].secret must be "whsec_" followed by a base64 key (at most 512 characters)',
    ]);
  });
});
