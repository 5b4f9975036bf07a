import type { Pool } from 'pg';
import { RouteRepository, destinationKey, routesFor, type Anomaly, type RouteView } from '@libs/alerting';
import { createPool } from '@libs/db';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { uid } from './support/stack';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';

/** A webhook answering 410 Gone is disabled: GET /v1/routes says so, routing skips it, its team re-enables it. */
describe('disabled destinations (api process, real PostgreSQL)', () => {
  let api: ServiceProcess;
  let pool: Pool;
  let admin: string;
  let keyA: string;
  let keyB: string;
  const teamA = `gone-a-${uid()}`;
  const teamB = `gone-b-${uid()}`;
  const hook = `https://hooks.example.com/${uid()}/very-secret-path`;

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    admin = (await createKey('_admin', 'admin')).key;
    keyA = (await createKey(teamA)).key;
    keyB = (await createKey(teamB)).key;
    api = await startService('api', 18396);
  });

  afterAll(async () => {
    await api?.stop();
    await pool?.end();
  });

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: res.status === 204 ? null : ((await res.json()) as unknown) };
  };
  const routesOf = async (key: string, query = '') =>
    (await call('GET', `/v1/routes${query}`, key)).body as RouteView[];
  /** Where a trigger for team A goes, as the alert router picks it (a repository of its own: nothing cached). */
  const paged = async () =>
    routesFor(
      { team: teamA, agent_id: 'support-triage', rule: 'zscore', severity: 'critical' } as Anomaly,
      await new RouteRepository(pool).all(),
    ).flatMap((r) => r.destinations);

  it('shows a 410-disabled webhook in GET /v1/routes, leaves it out of routing, and re-enables it for its team only', async () => {
    const created = await call('POST', '/v1/routes', keyA, {
      team: teamA,
      match: {},
      destinations: [
        { type: 'webhook', url: hook, secret: SECRET },
        { type: 'pagerduty', routing_key: ROUTING_KEY },
      ],
    });
    expect(created.status).toBe(201);
    const id = (created.body as RouteView).id;
    expect((await paged()).map((d) => d.type)).toEqual(['webhook', 'pagerduty']);

    // what the delivery worker does on a 410, with the key the alert router queued the delivery under
    const repository = new RouteRepository(pool);
    const webhook = (await repository.find(id))!.destinations[0];
    await repository.disableDestination(destinationKey(webhook), 'HTTP 410 from the receiver');

    const mine = (await routesOf(keyA)).find((r) => r.id === id)!;
    expect(mine.destinations[0]).toEqual({
      type: 'webhook',
      url: 'https://hooks.example.com/****',
      secret: '****LaSw',
      disabled: { at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), reason: 'HTTP 410 from the receiver' },
    });
    expect(mine.destinations[1]).not.toHaveProperty('disabled');
    expect(JSON.stringify(mine)).not.toContain('very-secret-path');
    expect(JSON.stringify(mine)).not.toContain(SECRET);
    expect(
      (await routesOf(admin, `?team=${teamA}`)).find((r) => r.id === id)!.destinations[0].disabled,
    ).toMatchObject({ reason: 'HTTP 410 from the receiver' });
    // never sent a new trigger; the team's other destination still is
    expect(await paged()).toEqual([{ type: 'pagerduty', routing_key: ROUTING_KEY }]);

    // another team neither sees nor re-enables it
    expect((await routesOf(keyB)).some((r) => r.id === id)).toBe(false);
    const enable = `/v1/routes/${id}/destinations/0/enable`;
    expect((await call('POST', enable, keyB)).status).toBe(404);
    expect(await paged()).toEqual([{ type: 'pagerduty', routing_key: ROUTING_KEY }]);
    expect((await call('POST', `/v1/routes/${id}/destinations/2/enable`, keyA)).status).toBe(404);
    expect((await call('POST', `/v1/routes/${id}/destinations/x/enable`, keyA)).status).toBe(400);
    expect((await call('POST', '/v1/routes/not-a-route/destinations/0/enable', keyA)).status).toBe(400);

    const enabled = await call('POST', enable, keyA);
    expect(enabled.status).toBe(200);
    expect((enabled.body as RouteView).destinations.some((d) => d.disabled)).toBe(false);
    expect((await routesOf(keyA)).find((r) => r.id === id)!.destinations.some((d) => d.disabled)).toBe(false);
    expect((await paged()).map((d) => d.type)).toEqual(['webhook', 'pagerduty']);
    expect((await call('POST', enable, keyA)).status).toBe(200); // already enabled: the same answer

    expect((await call('DELETE', `/v1/routes/${id}`, keyA)).status).toBe(204);
  });

  it('documents the re-enable operation and the disabled status in /openapi.json', async () => {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.paths['/v1/routes/{id}/destinations/{index}/enable']).toHaveProperty('post');
    expect(JSON.stringify(doc.paths['/v1/routes'].get)).toContain('"disabled"');
  });
});
