import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { RouteRepository, RouteValidationError, parseRoute } from './route.repository';

const noDbRoutes = { query: async () => ({ rows: [] }) } as unknown as Pool;

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
});
