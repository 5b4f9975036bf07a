import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Pool } from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { RouteRepository } from '@libs/alerting';
import { topicsIn, type RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { provisionTopics } from '@libs/kafka';
import { buildConsole } from '../scripts/build-console';
import { demoDataset, type DemoDataset } from './support/demo-dataset';
import { FakeVendors } from './support/fake-vendors';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { storedBeside } from './support/stored';
import { testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

const ROOT = resolve(__dirname, '..');
const config = testConfig();
const ns = `c${uid()}`;
const T = topicsIn(ns);
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots go to .burnrate/test-screenshots; with UPDATE_SCREENSHOTS=1 to docs/img too (the README's). */
const SHOTS = [
  join(ROOT, '.burnrate/test-screenshots'),
  ...(process.env.UPDATE_SCREENSHOTS ? [join(ROOT, 'docs/img')] : []),
];

/** As the console prints an amount: the currency code, then cents (or more digits for fractions of a cent). */
function shown(nanos: bigint, currency = 'USD'): string {
  const v = Number(nanos) / 1e9;
  const d = Math.abs(v) >= 1 || v === 0 ? 2 : Math.abs(v) >= 0.01 ? 4 : 6;
  return `${currency} ${v.toLocaleString('en', { minimumFractionDigits: d, maximumFractionDigits: d })}`;
}

/**
 * The console in a real browser (Debian's chromium driven by playwright-core) against the api of the real pipeline:
 * a demo-like history and a runaway agent go in over HTTP through every service, and the pages show what was stored.
 */
describe('console (chromium, every service a process, demo-like data)', () => {
  const vendors = new FakeVendors(SECRET);
  const services: ServiceProcess[] = [];
  const consoleDir = join(ROOT, `.burnrate/test-console-${ns}`);
  let api: ServiceProcess;
  let pool: Pool;
  let browser: Browser;
  let data: DemoDataset;
  let researchKey: string;
  let adminKey: string;

  beforeAll(async () => {
    await buildConsole(consoleDir);
    await vendors.start();
    pool = createPool(await migrated(), 2);
    const admin = testKafka(config).admin();
    await admin.connect();
    await provisionTopics(admin, config, Object.values(T));
    await admin.disconnect();
    const now = Date.now();
    data = demoDataset(ns, now);
    for (const team of [data.research, data.support])
      await new RouteRepository(pool, undefined, { allowList: '127.0.0.1' }).create({
        team,
        match: {},
        destinations: [{ type: 'webhook', url: vendors.url('/hook'), secret: SECRET }],
      });
    const env = {
      BURNRATE_TOPIC_NAMESPACE: ns,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      INSTANCE_ID: ns,
      ALERT_DESTINATION_ALLOWLIST: '127.0.0.1',
      RETRY_WEBHOOK: '200ms,5s,1h',
      POLL_MS: '100',
    };
    const names = ['ingestion', 'pricing', 'aggregator', 'detector', 'alert-router', 'recorder'];
    services.push(
      ...(await Promise.all(
        names.map((name, i) => startService(name, 18611 + i, { ...env, CONSUMER_GROUP: `${name}-${ns}` })),
      )),
    );
    api = await startService('api', 18610, { CONSOLE_DIR: consoleDir });
    services.push(api);

    adminKey = (await createKey('_admin', 'admin')).key;
    researchKey = (await createKey(data.research)).key;
    const post = async (runs: RunEvent[]) => {
      for (let k = 0; k < runs.length; k += 500) {
        const res = await fetch(`${services[0].url}/v1/runs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
          body: JSON.stringify(
            runs.slice(k, k + 500).map((r) => ({
              ...r,
              started_at: new Date(r.started_at).toISOString(),
              finished_at: new Date(r.finished_at).toISOString(),
            })),
          ),
        });
        expect(res.status).toBe(202);
      }
    };
    // day by day, as the demo sends its history
    const day = (r: RunEvent) => Math.floor(r.finished_at / 86_400_000);
    for (const d of [...new Set(data.history.map(day))]) await post(data.history.filter((r) => day(r) === d));
    await post(data.runaway);
    for (const team of [data.research, data.support]) {
      const runs = [...data.history, ...data.runaway].filter((r) => r.team === team);
      const { stored, expected } = await storedBeside(pool, team, runs);
      expect(stored).toEqual(expected);
    }
    // the runaway's incident, recorded with a delivery to the team's webhook
    await until(
      'a delivered alert about the runaway',
      async () =>
        (
          await pool.query(
            `select 1 from alert_deliveries where team = $1 and agent_id = 'research-agent' and outcome = 'delivered'`,
            [data.research],
          )
        ).rowCount,
      (n) => (n ?? 0) > 0,
      90_000,
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(services.map((s) => s.stop()));
    await pool?.end();
    await vendors.stop();
    rmSync(consoleDir, { recursive: true, force: true });
  });

  const loggedIn = async (key: string, width = 1280, height = 900): Promise<Page> => {
    const page = await (await browser.newContext({ viewport: { width, height } })).newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await page.goto(`${api.url}/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Spend', level: 1 }).waitFor();
    Object.assign(page, { problems });
    return page;
  };
  const problemsOf = (page: Page): string[] => (page as Page & { problems: string[] }).problems;
  /** The page from its top, at most `height` pixels of it. */
  const shoot = async (page: Page, name: string, height = 1400) => {
    const full = await page.evaluate<number>('document.documentElement.scrollHeight');
    for (const dir of SHOTS) {
      mkdirSync(dir, { recursive: true });
      await page.screenshot({
        path: join(dir, name),
        fullPage: true,
        clip: { x: 0, y: 0, width: 1280, height: Math.min(full, height) },
      });
    }
  };

  it('is served at / with its bundle, asks for a key, and keeps it out of every URL', async () => {
    const res = await fetch(`${api.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    const script = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${api.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${api.url}/assets/nope.js`)).status).toBe(404);
    // serving the bundle leaves the api's own answers as they were: an oversized body is still its 413
    const big = await fetch(`${api.url}/v1/teams/${data.research}/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${researchKey}` },
      body: JSON.stringify({ pad: 'x'.repeat(70_000) }),
    });
    expect([big.status, ((await big.json()) as { error: { code: string } }).error.code]).toEqual([
      413,
      'payload_too_large',
    ]);

    const page = await (await browser.newContext()).newPage();
    await page.goto(`${api.url}/`);
    await page.getByLabel('API key').fill('br_unknown_key');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not known' }).waitFor();

    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.getByLabel('API key').fill(researchKey);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Spend', level: 1 }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('burnrate.key'))).toBe(researchKey);
    await page.reload();
    await page.getByRole('heading', { name: 'Spend', level: 1 }).waitFor(); // still logged in within the tab
    expect(requests.length).toBeGreaterThan(0);
    expect([page.url(), ...requests].filter((u) => u.includes(researchKey))).toEqual([]);
    // another tab (context) of the browser does not have it
    const other = await (await browser.newContext()).newPage();
    await other.goto(`${api.url}/`);
    await other.getByLabel('API key').waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('burnrate.key'))).toBeNull();
    await page.context().close();
    await other.context().close();
  });

  it('shows the Spend page: the team’s total as stored, its agents stacked, the runaway’s incident marked', async () => {
    const page = await loggedIn(researchKey);
    const { rows } = await pool.query<{ cost: string; runs: string }>(
      `select sum(total_cost_nanos)::text as cost, count(*)::text as runs from runs where team = $1`,
      [data.research],
    );
    await page.getByTestId('total-spend').waitFor();
    expect(await page.getByTestId('total-spend').innerText()).toBe(shown(BigInt(rows[0].cost)));
    expect(await page.locator('.totals').innerText()).toContain(Number(rows[0].runs).toLocaleString('en'));
    const legend = await page.locator('.legend').innerText();
    for (const agent of ['research-agent', 'lead-enrichment', 'citation-checker'])
      expect(legend).toContain(agent);
    expect(legend).not.toContain('support-triage'); // the other team's agent
    expect(await page.locator('.chart canvas').count()).toBeGreaterThan(0);
    await page.locator('.markers').getByRole('link', { name: 'research-agent' }).first().waitFor();
    await page.getByLabel('Stack by').selectOption('model');
    await page.getByRole('rowheader', { name: 'claude-sonnet-4-5-20250929' }).waitFor();
    expect(await page.locator('.legend').innerText()).toContain('gpt-4o-mini');
    await page.getByLabel('Stack by').selectOption('agent');
    await page.getByRole('rowheader', { name: 'research-agent' }).waitFor();
    await shoot(page, 'console-spend.png');
    expect(problemsOf(page)).toEqual([]);
    await page.context().close();
  });

  it('opens the runaway agent from its flagged row: daily spend and band, recent runs, anomalies', async () => {
    const page = await loggedIn(researchKey);
    await page.getByRole('link', { name: 'Top customers' }).click();
    const flagged = page.locator('[data-testid=top-customers] tr.flagged', { hasText: 'research-agent' });
    await flagged.first().waitFor();
    expect(await flagged.first().innerText()).toContain('unattributed');
    await flagged.first().getByRole('link', { name: 'research-agent' }).click();
    await page.getByRole('heading', { name: /research-agent/, level: 1 }).waitFor();
    expect(page.url()).toContain(`#/agent/research-agent?team=${data.research}`);
    await page.locator('.chart').nth(1).locator('canvas').first().waitFor(); // both charts drawn
    const runs = page.getByTestId('recent-runs');
    await runs.waitFor();
    expect(await runs.locator('tbody tr').count()).toBe(20);
    expect(await runs.innerText()).toContain(`${ns}-runaway-199`); // newest first
    await shoot(page, 'console-agent.png', 1250);
    await page.getByRole('button', { name: 'Show older runs' }).click();
    await until(
      'a second page of runs',
      () => runs.locator('tbody tr').count(),
      (n) => n === 40,
      10_000,
      100,
    );
    const anomalies = page.getByTestId('anomalies');
    await anomalies.waitFor();
    const stored = await pool.query<{ rule: string }>(
      `select distinct rule from anomalies where team = $1 and agent_id = 'research-agent'`,
      [data.research],
    );
    expect(stored.rows.length).toBeGreaterThan(0);
    for (const { rule } of stored.rows) expect(await anomalies.innerText()).toContain(rule);
    await page.getByText('The daily figures as a table').click();
    expect(await page.getByTestId('agent-days').locator('tbody tr').count()).toBeGreaterThanOrEqual(10);
    expect(problemsOf(page)).toEqual([]);
    await page.context().close();
  });

  it('draws a run’s call tree with each node’s own and rolled-up cost', async () => {
    const page = await loggedIn(researchKey);
    await page.goto(`${api.url}/#/agent/lead-enrichment?team=${data.research}`);
    const runs = page.getByTestId('recent-runs');
    await runs.waitFor();
    const row = runs.locator('tbody tr').first();
    const runId = (await row.getByRole('link').first().innerText()).trim();
    await row.getByRole('link', { name: runId }).click();
    const tree = page.getByTestId('call-tree');
    await tree.waitFor();
    const { rows } = await pool.query<{ run_id: string; agent_id: string; cost: string }>(
      `select run_id, agent_id, total_cost_nanos::text as cost from runs where team = $1 and (run_id = $2 or parent_run_id = $2)`,
      [data.research, runId],
    );
    expect(rows).toHaveLength(4);
    expect(await tree.getByRole('treeitem').count()).toBe(4);
    const text = await tree.innerText();
    for (const r of rows) {
      expect(text).toContain(r.agent_id);
      expect(text).toContain(shown(BigInt(r.cost)));
    }
    const total = rows.reduce((s, r) => s + BigInt(r.cost), 0n);
    expect(await tree.getByRole('treeitem').first().locator('.node').first().innerText()).toContain(
      `rolled up ${shown(total)}`,
    );
    expect(problemsOf(page)).toEqual([]);
    await page.context().close();
  });

  it('lists the incidents with their signals and deliveries, and shows and edits the settings', async () => {
    const page = await loggedIn(researchKey);
    await page.getByRole('link', { name: 'Anomalies' }).click();
    const incident = page
      .getByTestId('incidents')
      .locator('li.incident', { hasText: 'research-agent' })
      .first();
    await incident.waitFor();
    await incident.getByText(/deliver(y|ies):/).click();
    expect(await incident.innerText()).toContain('delivered');
    expect(await incident.innerText()).toContain(`webhook ${vendors.url('/')}`); // the path masked

    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Alert routes' }).waitFor();
    await page.getByLabel('z threshold (σ)').waitFor();
    expect(await page.getByLabel('z threshold (σ)').inputValue()).toBe('2.5');
    expect(await page.locator('main').innerText()).toContain(`webhook ${vendors.url('/')}`);
    await page.getByLabel('z threshold (σ)').fill('3.5');
    await page.getByRole('button', { name: 'Save thresholds' }).click();
    await page.getByText('Saved').waitFor();
    const res = await fetch(`${api.url}/v1/teams/${data.research}/settings`, {
      headers: { authorization: `Bearer ${researchKey}` },
    });
    expect(((await res.json()) as { zscore_threshold: number }).zscore_threshold).toBe(3.5);
    expect(problemsOf(page)).toEqual([]);
    await page.context().close();
  });

  it('adds and removes a budget, creates and deletes a route, and shows a team key no key or rate-card forms', async () => {
    const page = await loggedIn(researchKey);
    await page.getByRole('link', { name: 'Settings' }).click();
    const headers = { authorization: `Bearer ${researchKey}` };
    type Budgets = { budgets: { scope: string; agent_id?: string }[] };
    const budgets = async () =>
      (
        (await (await fetch(`${api.url}/v1/teams/${data.research}/settings`, { headers })).json()) as Budgets
      ).budgets.filter((b) => b.scope === 'agent' && b.agent_id === 'citation-checker');

    const budgetForm = page.getByRole('form', { name: 'New budget' });
    await budgetForm.waitFor();
    await budgetForm.getByLabel('Budget scope').selectOption('agent');
    await budgetForm.getByLabel('Agent id').fill('citation-checker');
    await budgetForm.getByLabel('Budget period').selectOption('day');
    // the api's own refusal, naming the field, beside the form
    await budgetForm.getByLabel('Amount', { exact: true }).fill('0');
    await budgetForm.getByRole('button', { name: 'Add budget' }).click();
    await page.getByRole('alert').filter({ hasText: 'new budget: amount' }).waitFor();
    expect(await budgets()).toEqual([]);
    await budgetForm.getByLabel('Amount', { exact: true }).fill('5000');
    await budgetForm.getByRole('button', { name: 'Add budget' }).click();
    await page.getByText('Budget added.').waitFor();
    expect(await budgets()).toEqual([
      {
        scope: 'agent',
        agent_id: 'citation-checker',
        period: 'day',
        amount: { amount: '5000', currency: 'USD' },
        block_at_100: false,
      },
    ]);
    const remove = page.getByRole('button', { name: /^Remove budget agent citation-checker/ });
    await remove.click();
    await page.getByText('Budget removed.').waitFor();
    await remove.waitFor({ state: 'detached' });
    expect(await budgets()).toEqual([]);

    const address = `oncall-${ns}@example.com`;
    type Listed = { id: string; match: object; destinations: { type: string; to?: string[] }[] }[];
    const routesTo = async () =>
      ((await (await fetch(`${api.url}/v1/routes`, { headers })).json()) as Listed).filter((r) =>
        r.destinations.some((d) => d.to?.includes(address)),
      );
    const routeForm = page.getByRole('form', { name: 'New alert route' });
    await routeForm.getByLabel('Agent (glob').fill('citation-*');
    await routeForm.getByLabel('critical').check();
    await routeForm.getByLabel('Destination').selectOption('email');
    await routeForm.getByLabel('Email recipients').fill(address);
    await routeForm.getByRole('button', { name: 'Create route' }).click();
    const row = page.getByRole('region', { name: 'Alert routes' }).locator('tr', { hasText: address });
    await row.waitFor();
    const created = await routesTo();
    expect(created.map((r) => [r.match, r.destinations])).toEqual([
      [{ agent_id: 'citation-*', severity: ['critical'] }, [{ type: 'email', to: [address] }]],
    ]);
    await row.getByRole('button', { name: /^Delete/ }).click();
    await row.waitFor({ state: 'detached' });
    expect(await routesTo()).toEqual([]);

    // creating keys and overrides is an admin's: a team key is not offered the forms
    await page.getByText('New API keys are made with an admin key.').waitFor();
    expect(await page.getByRole('form', { name: 'New API key' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Create key' }).count()).toBe(0);
    expect(await page.getByRole('form', { name: 'Rate-card override' }).count()).toBe(0);
    // the refused budget's 400 is the one console error (Chromium logs every failed request)
    expect(problemsOf(page).filter((p) => !p.includes('status of 400'))).toEqual([]);
    await page.context().close();
  });

  it('lets an admin key create a team key, shown once, and revoke it', async () => {
    const page = await loggedIn(adminKey);
    await page.goto(`${api.url}/#/settings?team=${data.research}`);
    const form = page.getByRole('form', { name: 'New API key' });
    await form.waitFor();
    expect(await form.getByLabel('Key team').inputValue()).toBe(data.research);
    await form.getByLabel('Key name').fill(`console-${ns}`);
    await form.getByRole('button', { name: 'Create key' }).click();
    await page.getByText('It is shown only now').waitFor();
    const key = await page.getByLabel('The new key', { exact: true }).inputValue();
    const whoami = await fetch(`${api.url}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
    expect(whoami.status).toBe(200);
    expect(((await whoami.json()) as { team: string; role: string }).team).toBe(data.research);
    const row = page.getByRole('region', { name: 'API keys' }).locator('tr', { hasText: `console-${ns}` });
    await row.waitFor();
    await row.getByRole('button', { name: `Revoke key console-${ns}` }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    // the row keeps no button once the key is revoked (and the refreshed list shows when)
    await until(
      'the key shown revoked',
      () => row.getByRole('button').count(),
      (n) => n === 0,
      10_000,
      100,
    );
    await until(
      'the revoked key refused',
      async () =>
        (await fetch(`${api.url}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } })).status,
      (status) => status === 401,
      10_000,
      200,
    );
    await page.getByRole('button', { name: 'Done, hide it' }).click();
    expect(await page.getByLabel('The new key', { exact: true }).count()).toBe(0);
    expect(problemsOf(page)).toEqual([]);
    await page.context().close();
  });

  it('GET /v1/runs pages through an agent’s runs once each, newest first, in its team only', async () => {
    const seen: { run_id: string; finished_at: string; team: string }[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const res = await fetch(
        `${api.url}/v1/runs?agent_id=research-agent&limit=37&from=${new Date(Date.now() - 30 * 86_400_000).toISOString()}&cursor=${cursor}`,
        { headers: { authorization: `Bearer ${researchKey}` } },
      );
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: typeof seen; next_cursor: string | null };
      seen.push(...page.items);
      cursor = page.next_cursor;
    }
    const expected = [...data.history, ...data.runaway]
      .filter((r) => r.team === data.research && r.agent_id === 'research-agent')
      .sort((a, b) => b.finished_at - a.finished_at || (a.run_id < b.run_id ? 1 : -1));
    expect(seen.map((r) => r.run_id)).toEqual(expected.map((r) => r.run_id));
    expect(new Set(seen.map((r) => r.team))).toEqual(new Set([data.research]));
    const refused = await fetch(`${api.url}/v1/runs?team=${data.support}`, {
      headers: { authorization: `Bearer ${researchKey}` },
    });
    expect(refused.status).toBe(403);
  });

  it('refuses a team key another team’s data, in the page', async () => {
    const page = await loggedIn(researchKey);
    await page.goto(`${api.url}/#/agent/support-triage?team=${data.support}`);
    const refusal = page.getByRole('alert').filter({ hasText: 'Not allowed with this key' }).first();
    await refusal.waitFor();
    expect(await refusal.innerText()).toContain(`cannot read team "${data.support}"`);
    expect(await page.locator('.chart canvas').count()).toBe(0);
    await page.goto(`${api.url}/#/spend?team=${data.support}`);
    await page.getByRole('alert').filter({ hasText: 'Not allowed with this key' }).first().waitFor();
    await page.context().close();
  });

  it('is usable at phone width and from the keyboard', async () => {
    const page = await loggedIn(researchKey, 390, 844);
    await page.getByTestId('total-spend').waitFor();
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string>('document.activeElement?.textContent')).toBe('Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string>('document.activeElement?.textContent')).toBe('Spend');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Top customers by agent' }).waitFor();
    await page.context().close();
  });
});
