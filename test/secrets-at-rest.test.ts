import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { RouteRepository } from '@libs/alerting';
import { createPool } from '@libs/db';
import { SecretBox } from '@libs/secrets';
import { rotateSecrets } from '../scripts/rotate-secrets';
import { migrated } from './support/services';
import { uid } from './support/stack';

const key = () => randomBytes(32).toString('base64');
const ROUTING_KEY = `R${uid()}`.padEnd(32, '7').slice(0, 32);
const HOOK = `https://hooks.example.com/services/${uid()}/very-secret-token`;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** Routing keys, webhook URLs and signing secrets are sealed in PostgreSQL and rotate to a new key without loss. */
describe('secrets at rest (real PostgreSQL)', () => {
  // A database of its own: a rotation re-seals every row, and the shared one holds other tests' routes.
  const database = `burnrate_secrets_${uid()}`.toLowerCase();
  let admin: Pool;
  let pool: Pool;
  const team = `sealed-${uid()}`;
  const noDns = async () => [{ address: '93.184.215.14', family: 4 as const }];

  beforeAll(async () => {
    const shared = await migrated();
    admin = createPool(shared, 1);
    await admin.query(`create database ${database}`);
    const url = new URL(shared);
    url.pathname = `/${database}`;
    pool = createPool(await migrated(url.toString()), 2);
  });
  afterAll(async () => {
    await pool?.end();
    await admin?.query(`drop database if exists ${database} with (force)`);
    await admin?.end();
  });

  it('stores no routing key, webhook URL or secret in plain text; reads them back; rotates to a new key', async () => {
    const oldKey = key();
    const before = SecretBox.fromEnv({ SECRETS_KEY: oldKey });
    const routes = new RouteRepository(pool, undefined, { secrets: before, resolve: noDns });
    const route = await routes.create({
      team,
      match: {},
      destinations: [
        { type: 'pagerduty', routing_key: ROUTING_KEY },
        { type: 'webhook', url: HOOK, secret: SECRET },
        { type: 'slack', webhook_url: HOOK },
        { type: 'email', to: ['oncall@example.com'] },
      ],
    });
    const stored = async () =>
      JSON.stringify(
        (await pool.query('select destinations from alert_routes where id = $1', [route.id])).rows[0]
          .destinations,
      );
    const sealed = await stored();
    for (const plain of [ROUTING_KEY, HOOK, SECRET]) expect(sealed).not.toContain(plain);
    expect(sealed).toContain(`enc:v1:${before.keyId}:`);
    expect(sealed).toContain('oncall@example.com');

    const mine = (await routes.all()).find((r) => r.id === route.id)!;
    expect(mine.destinations).toEqual([
      { type: 'pagerduty', routing_key: ROUTING_KEY },
      { type: 'webhook', url: HOOK, secret: SECRET },
      { type: 'slack', webhook_url: HOOK },
      { type: 'email', to: ['oncall@example.com'] },
    ]);
    expect(JSON.stringify(await routes.list(team))).not.toContain(ROUTING_KEY);

    // Rotation: a new current key, the old one kept readable until every value is sealed again.
    const newKey = key();
    const rotated = SecretBox.fromEnv({ SECRETS_KEY: newKey, SECRETS_PREVIOUS_KEYS: oldKey });
    const report = await rotateSecrets(pool, rotated);
    expect(report.routes).toBeGreaterThanOrEqual(1);
    const resealed = await stored();
    expect(resealed).toContain(`enc:v1:${rotated.keyId}:`);
    expect(resealed).not.toContain(`enc:v1:${before.keyId}:`);
    expect((await rotateSecrets(pool, rotated)).routes).toBe(0); // idempotent
    const newOnly = SecretBox.fromEnv({ SECRETS_KEY: newKey });
    const afterRotation = new RouteRepository(pool, undefined, { secrets: newOnly, resolve: noDns });
    expect((await afterRotation.all()).find((r) => r.id === route.id)!.destinations).toEqual(
      mine.destinations,
    );
    // and the old key alone no longer reads them: that route is left out and reported, the others still read
    const plain = await new RouteRepository(pool, undefined, { secrets: before, resolve: noDns }).create({
      team,
      match: { rule: ['budget'] },
      destinations: [{ type: 'email', to: ['budget@example.com'] }],
    });
    const unreadable: string[] = [];
    const oldOnly = new RouteRepository(pool, undefined, {
      secrets: before,
      resolve: noDns,
      onUnreadable: (id, _team, err) => unreadable.push(`${id}: ${err.message}`),
    });
    expect((await oldOnly.all()).map((r) => r.id)).toEqual([plain.id]);
    expect(unreadable).toEqual([expect.stringMatching(new RegExp(`^${route.id}: .*neither SECRETS_KEY`))]);
  });

  it('rotation leaves a route sealed with a key it was not given as it is, names it, and re-seals the rest', async () => {
    const stranger = SecretBox.fromEnv({ SECRETS_KEY: key() });
    const lost = await new RouteRepository(pool, undefined, { secrets: stranger, resolve: noDns }).create({
      team,
      match: {},
      destinations: [{ type: 'pagerduty', routing_key: ROUTING_KEY }],
    });
    const current = SecretBox.fromEnv({ SECRETS_KEY: key() });
    const report = await rotateSecrets(pool, current);
    // (the first test's routes are sealed with keys this rotation was not given either)
    expect(report.unreadable).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^route ${lost.id}: `))]),
    );
    const left = new Set(report.unreadable.map((u) => u.split(' ')[1].replace(/:$/, '')));
    const { rows } = await pool.query<{ id: string; text: string }>(
      'select id, destinations::text as text from alert_routes',
    );
    for (const r of rows)
      if (!left.has(r.id) && r.text.includes('enc:v1:')) expect(r.text).toContain(`enc:v1:${current.keyId}:`);
    expect(rows.find((r) => r.id === lost.id)!.text).toContain(`enc:v1:${stranger.keyId}:`);
  });
});
