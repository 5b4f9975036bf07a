/**
 * `npm run demo` (after `npm run up`): 30 days of synthetic history for twenty agents across three teams — customers,
 * features, sessions, call trees, weekly seasonality and noise — sent as event-time history through the real
 * ingestion API, then a live runaway agent (a retry loop carrying its full context, untagged). Prints the brief's
 * per-agent breakdown from the real API once the recorder has stored everything.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const INGEST = process.env.INGESTION_URL ?? `http://127.0.0.1:${process.env.INGESTION_PORT ?? 8081}`;
const API = process.env.API_URL ?? `http://127.0.0.1:${process.env.API_PORT ?? 8080}`;
const ADMIN =
  process.env.BURNRATE_ADMIN_KEY ?? readFileSync(join(__dirname, '../../.burnrate/admin-key'), 'utf8').trim();
const DAY = 86_400_000;

interface Agent {
  team: string;
  id: string;
  model: string;
  runsPerDay: number;
  input: number;
  output: number;
  customers: string[];
  feature: string;
  children?: { id: string; model: string; input: number; output: number }[];
}

const CUSTOMERS = ['acme-corp', 'globex', 'initech', 'umbrella', 'hooli', 'stark-industries'];
const AGENTS: Agent[] = [
  {
    team: 'support',
    id: 'support-triage',
    model: 'gpt-4o-2024-08-06',
    runsPerDay: 400,
    input: 2400,
    output: 500,
    customers: CUSTOMERS,
    feature: 'inbox-autoreply',
  },
  {
    team: 'support',
    id: 'email-classifier',
    model: 'gpt-4o-mini',
    runsPerDay: 600,
    input: 900,
    output: 40,
    customers: CUSTOMERS,
    feature: 'routing',
  },
  {
    team: 'support',
    id: 'refund-assistant',
    model: 'claude-haiku-4-5',
    runsPerDay: 80,
    input: 3000,
    output: 600,
    customers: CUSTOMERS.slice(0, 3),
    feature: 'refunds',
  },
  {
    team: 'support',
    id: 'kb-search',
    model: 'gemini-2.5-flash',
    runsPerDay: 300,
    input: 5000,
    output: 300,
    customers: CUSTOMERS,
    feature: 'help-center',
  },
  {
    team: 'support',
    id: 'csat-summariser',
    model: 'gpt-4o-mini',
    runsPerDay: 120,
    input: 4000,
    output: 250,
    customers: CUSTOMERS,
    feature: 'csat',
  },
  {
    team: 'support',
    id: 'translation-agent',
    model: 'claude-haiku-4-5',
    runsPerDay: 150,
    input: 1200,
    output: 1200,
    customers: CUSTOMERS.slice(2),
    feature: 'i18n',
  },
  {
    team: 'support',
    id: 'escalation-writer',
    model: 'claude-sonnet-4-5-20250929',
    runsPerDay: 30,
    input: 6000,
    output: 900,
    customers: CUSTOMERS.slice(0, 2),
    feature: 'escalations',
  },
  {
    team: 'research',
    id: 'research-agent',
    model: 'claude-sonnet-4-5-20250929',
    runsPerDay: 25,
    input: 8000,
    output: 1500,
    customers: CUSTOMERS.slice(0, 4),
    feature: 'account-research',
  },
  {
    team: 'research',
    id: 'lead-enrichment',
    model: 'gpt-4o-mini',
    runsPerDay: 60,
    input: 1500,
    output: 200,
    customers: CUSTOMERS,
    feature: 'lead-scoring',
    children: [
      { id: 'company-research', model: 'claude-sonnet-4-5-20250929', input: 9000, output: 1200 },
      { id: 'person-research', model: 'claude-sonnet-4-5-20250929', input: 7000, output: 1000 },
      { id: 'summariser', model: 'gpt-4o-mini', input: 5000, output: 400 },
    ],
  },
  {
    team: 'research',
    id: 'market-scanner',
    model: 'gemini-2.5-pro',
    runsPerDay: 20,
    input: 20000,
    output: 2000,
    customers: ['internal'],
    feature: 'market-intel',
  },
  {
    team: 'research',
    id: 'citation-checker',
    model: 'gpt-4o-mini',
    runsPerDay: 200,
    input: 2500,
    output: 100,
    customers: CUSTOMERS.slice(0, 4),
    feature: 'account-research',
  },
  {
    team: 'research',
    id: 'doc-reader',
    model: 'claude-haiku-4-5',
    runsPerDay: 90,
    input: 15000,
    output: 800,
    customers: CUSTOMERS,
    feature: 'doc-qa',
  },
  {
    team: 'growth',
    id: 'content-writer',
    model: 'claude-sonnet-4-5-20250929',
    runsPerDay: 100,
    input: 5000,
    output: 2500,
    customers: ['acme-corp', 'globex'],
    feature: 'blog-drafts',
  },
  {
    team: 'growth',
    id: 'seo-optimizer',
    model: 'gpt-4o-mini',
    runsPerDay: 250,
    input: 3500,
    output: 600,
    customers: CUSTOMERS,
    feature: 'seo',
  },
  {
    team: 'growth',
    id: 'ad-copy',
    model: 'gpt-4o-2024-08-06',
    runsPerDay: 70,
    input: 1500,
    output: 400,
    customers: CUSTOMERS.slice(1, 5),
    feature: 'ads',
  },
  {
    team: 'growth',
    id: 'social-scheduler',
    model: 'gemini-2.5-flash',
    runsPerDay: 150,
    input: 1000,
    output: 150,
    customers: CUSTOMERS,
    feature: 'social',
  },
  {
    team: 'growth',
    id: 'email-campaigner',
    model: 'claude-haiku-4-5',
    runsPerDay: 110,
    input: 2500,
    output: 700,
    customers: CUSTOMERS,
    feature: 'campaigns',
  },
  {
    team: 'growth',
    id: 'image-captioner',
    model: 'gpt-4o-mini',
    runsPerDay: 90,
    input: 1200,
    output: 80,
    customers: CUSTOMERS.slice(3),
    feature: 'assets',
  },
];

let seed = 42;
const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const noisy = (v: number, spread = 0.25): number =>
  Math.max(1, Math.round(v * (1 + (rand() * 2 - 1) * spread)));
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];

type Run = Record<string, unknown>;
let counter = 0;

function runsForDay(agent: Agent, dayStart: number, until: number): Run[] {
  const weekday = new Date(dayStart).getUTCDay();
  const seasonal = weekday === 0 || weekday === 6 ? 0.45 : 1;
  const n = noisy(agent.runsPerDay * seasonal, 0.2);
  const out: Run[] = [];
  for (let i = 0; i < n; i++) {
    const finished = dayStart + Math.floor(rand() * DAY);
    if (finished >= until) continue;
    const id = `demo-${agent.id}-${++counter}`;
    const customer = rand() < 0.03 ? null : pick(agent.customers);
    const base = {
      run_id: id,
      agent_id: agent.id,
      team: agent.team,
      model: agent.model,
      input_tokens: noisy(agent.input),
      output_tokens: noisy(agent.output),
      customer_id: customer,
      feature: agent.feature,
      session_id: `${agent.id}-s${Math.floor(finished / 600_000)}`,
      started_at: new Date(finished - 3000).toISOString(),
      finished_at: new Date(finished).toISOString(),
      status: rand() < 0.04 ? 'error' : 'success',
      quality_score: Math.round((0.7 + rand() * 0.3) * 100) / 100,
    };
    out.push(base);
    for (const child of agent.children ?? []) {
      out.push({
        ...base,
        run_id: `${id}-${child.id}`,
        agent_id: child.id,
        model: child.model,
        input_tokens: noisy(child.input),
        output_tokens: noisy(child.output),
        parent_run_id: id,
      });
    }
  }
  return out;
}

async function post(runs: Run[]): Promise<void> {
  for (let i = 0; i < runs.length; i += 500) {
    const res = await fetch(`${INGEST}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify(runs.slice(i, i + 500)),
    });
    if (res.status !== 202) throw new Error(`ingestion answered ${res.status}: ${await res.text()}`);
  }
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${API}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (!res.ok) throw new Error(`api ${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

const progress = (msg: string): void => void process.stdout.write(`\r${msg.padEnd(78)}`);

interface Delivered {
  verified: boolean;
  body: {
    type: string;
    data: {
      rule: string;
      severity: string;
      state: string;
      team: string;
      agent_id: string | null;
      summary: string;
      detected_at: number;
      window_start: number;
      dedupe_key: string;
      incident_id: string | null;
    };
  };
}

/** A local webhook receiver standing in for the team's endpoint: verifies the Standard Webhooks signature. */
async function receiver(secret: string, port: number): Promise<Delivered[]> {
  const got: Delivered[] = [];
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const expected = createHmac('sha256', key)
        .update(`${req.headers['webhook-id']}.${req.headers['webhook-timestamp']}.${raw}`)
        .digest('base64');
      got.push({
        verified: String(req.headers['webhook-signature']).split(' ').includes(`v1,${expected}`),
        body: JSON.parse(raw) as Delivered['body'],
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  server.unref();
  return got;
}

async function main(): Promise<void> {
  const now = Date.now();
  // One signing secret per checkout: an incident left open by an earlier demo is updated where it was paged, with the
  // secret it was paged with, and this receiver must still verify it.
  const secretFile = join(__dirname, '../../.burnrate/demo-webhook-secret');
  if (!existsSync(secretFile))
    writeFileSync(secretFile, `whsec_${randomBytes(24).toString('base64')}\n`, { mode: 0o600 });
  const secret = readFileSync(secretFile, 'utf8').trim();
  const port = Number(process.env.DEMO_RECEIVER_PORT ?? 9999);
  const alerts = await receiver(secret, port);
  const auth = { authorization: `Bearer ${ADMIN}` };
  for (const team of new Set(AGENTS.map((a) => a.team))) {
    // An earlier demo's route points here with another secret: replace it, so each alert arrives once, verifiable.
    const existing = (await (await fetch(`${API}/v1/routes?team=${team}`, { headers: auth })).json()) as {
      id: string;
      team: string | null;
      destinations: { url?: string }[];
    }[];
    for (const r of existing)
      if (r.team === team && r.destinations.some((d) => d.url?.startsWith(`http://127.0.0.1:${port}/`)))
        await fetch(`${API}/v1/routes/${r.id}`, { method: 'DELETE', headers: auth });
    const res = await fetch(`${API}/v1/routes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({
        team,
        match: {},
        destinations: [{ type: 'webhook', url: `http://127.0.0.1:${port}/burnrate`, secret }],
      }),
    });
    if (res.status !== 201)
      throw new Error(`could not create the demo route: ${res.status} ${await res.text()}`);
  }
  const today = Math.floor(now / DAY) * DAY;
  const from = today - 30 * DAY;
  let sent = 0;
  for (let day = from; day < today; day += DAY) {
    const runs = AGENTS.flatMap((a) => runsForDay(a, day, today));
    await post(runs);
    sent += runs.length;
    progress(`history: ${new Date(day).toISOString().slice(0, 10)} — ${sent.toLocaleString('en')} runs sent`);
  }
  const todays = AGENTS.flatMap((a) => runsForDay(a, today, now));
  await post(todays);
  sent += todays.length;

  // The runaway: a retry loop that re-sends the whole growing conversation each time, with no customer_id.
  const loop: Run[] = [];
  let context = 6000;
  for (let i = 0; i < 240; i++) {
    const finished = now - (240 - i) * 500;
    context = Math.min(180_000, Math.round(context * 1.04) + 2000);
    loop.push({
      run_id: `demo-runaway-${now}-${i}`,
      agent_id: 'research-agent',
      team: 'research',
      model: 'claude-sonnet-4-5-20250929',
      input_tokens: context,
      output_tokens: 1800,
      feature: 'backfill',
      session_id: `backfill-${now}`,
      started_at: new Date(finished - 400).toISOString(),
      finished_at: new Date(finished).toISOString(),
      status: i % 8 === 7 ? 'success' : 'error',
    });
  }
  await post(loop);
  sent += loop.length;
  progress(`sent ${sent.toLocaleString('en')} runs (30 days of history and a live runaway agent)\n`);

  type Table = {
    rows: {
      team: string;
      agent_id: string;
      customer_id: string | null;
      runs: number;
      cost: { amount: string; currency: string };
      cost_per_run: { amount: string } | null;
      flags: string[];
    }[];
    teams: { team: string; runs: number; cost: { amount: string } }[];
  };
  // The demo's teams only: the local database may hold other teams' runs (tests, earlier experiments).
  const demoTeams = new Set(AGENTS.map((a) => a.team));
  const q = `/v1/spend/top-customers?from=${new Date(from).toISOString()}&limit=500`;
  const fetchTable = async (): Promise<Table> => {
    const t = await api<Table>(q);
    return {
      rows: t.rows.filter((r) => demoTeams.has(r.team)).slice(0, 25),
      teams: t.teams.filter((x) => demoTeams.has(x.team)),
    };
  };
  let table = await fetchTable();
  const deadline = Date.now() + 120_000;
  while (table.teams.reduce((s, t) => s + t.runs, 0) < sent && Date.now() < deadline) {
    progress(
      `waiting for pricing and the recorder: ${table.teams.reduce((s, t) => s + t.runs, 0).toLocaleString('en')} of ${sent.toLocaleString('en')} runs stored`,
    );
    await new Promise((r) => setTimeout(r, 1000));
    table = await fetchTable();
  }
  process.stdout.write('\n\nspend · last 30 days · top customers by agent (flagged rows marked !)\n\n');
  const line = (cells: string[]) =>
    `${cells[0].padEnd(2)}${cells[1].padEnd(20)}${cells[2].padEnd(18)}${cells[3].padEnd(16)}${cells[4].padStart(8)}${cells[5].padStart(14)}${cells[6].padStart(12)}  ${cells[7]}`;
  console.log(line(['', 'agent', 'customer', 'team', 'runs', 'cost', 'cost / run', 'flags']));
  for (const r of table.rows) {
    console.log(
      line([
        r.flags.length ? '!' : '',
        r.agent_id,
        r.customer_id ?? '(unattributed)',
        r.team,
        r.runs.toLocaleString('en'),
        `${Number(r.cost.amount).toFixed(2)} ${r.cost.currency}`,
        r.cost_per_run ? Number(r.cost_per_run.amount).toFixed(4) : '-',
        r.flags.join(', '),
      ]),
    );
  }
  console.log(
    '\nteam rollup: ' +
      table.teams
        .map((t) => `${t.team} ${Number(t.cost.amount).toFixed(2)} (${t.runs.toLocaleString('en')} runs)`)
        .join(' · '),
  );
  const live = (d: Delivered): boolean =>
    d.body.data.agent_id === 'research-agent' &&
    d.body.data.detected_at >= now - 180_000 &&
    d.body.data.state !== 'resolved';
  const alertDeadline = Date.now() + 90_000;
  while (!alerts.some(live) && Date.now() < alertDeadline) {
    progress(
      `waiting for the alert on research-agent (${alerts.length} deliveries so far, history included)`,
    );
    await new Promise((r) => setTimeout(r, 1000));
  }
  // The runaway's other signals join its incident over the next seconds: wait until the deliveries settle.
  const settleDeadline = Date.now() + 45_000;
  let seen = -1;
  while (alerts.some(live) && alerts.length !== seen && Date.now() < settleDeadline) {
    seen = alerts.length;
    progress(`the incident is open; its signals are joining (${alerts.filter(live).length} deliveries)`);
    await new Promise((r) => setTimeout(r, 8000));
  }
  const fired = alerts.filter(live);
  process.stdout.write('\n');
  if (fired.length === 0) {
    console.log(
      '\nno alert on research-agent reached the local receiver within 90 s (see .burnrate/logs/detector.log and alert-router.log)',
    );
  } else {
    // One incident for the runaway: its signals joined it as they fired, the route was paged once (the webhook gets
    // each update of it too, under the same incident id, for a receiver to fold in).
    const incidents = new Map<string, Delivered[]>();
    for (const d of fired) {
      const id = d.body.data.incident_id ?? d.body.data.dedupe_key;
      incidents.set(id, [...(incidents.get(id) ?? []), d]);
    }
    console.log(
      `\n${incidents.size} incident${incidents.size === 1 ? '' : 's'} for the runaway agent, delivered to the local webhook receiver (http://127.0.0.1:${port}/burnrate):`,
    );
    for (const [id, deliveries] of incidents) {
      const shown = await api<{
        state: string;
        severity: string;
        opened_at: string;
        signals: { rule: string; severity: string; state: string; summary: string }[];
      }>(`/v1/incidents/${encodeURIComponent(id)}`).catch(() => null);
      const first = deliveries[0].body.data;
      console.log(
        `  ${id} — ${first.team}/${first.agent_id} — ${shown ? `${shown.state}, ${shown.severity}, opened ${shown.opened_at}` : 'not yet recorded'} — ` +
          `${deliveries.length} deliver${deliveries.length === 1 ? 'y' : 'ies'} (1 page, then updates), signatures ${deliveries.every((d) => d.verified) ? 'verified' : 'NOT VERIFIED'}`,
      );
      const signals = shown?.signals ?? deliveries.map((d) => d.body.data);
      for (const sig of signals) console.log(`    [${sig.severity}] ${sig.rule}: ${sig.summary}`);
    }
  }
  console.log(`\nAPI: ${API} (OpenAPI page: ${API}/docs) — admin key in .burnrate/admin-key`);
  console.log(`Console: ${API}/ — log in with the admin key (.burnrate/admin-key) or a team key`);
  console.log(
    `Ingestion: ${INGEST}/v1/runs (OpenAPI page: ${INGEST}/docs). Everything keeps running; \`npm run down\` stops it.`,
  );
}

main().catch((err: unknown) => {
  console.error(`\ndemo failed: ${(err as Error).message}`);
  process.exit(1);
});
