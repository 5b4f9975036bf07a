import type { RunEvent } from '@libs/contracts';
import { runEvent } from './fixtures';

/**
 * A small, deterministic slice of `npm run demo`'s history for end-to-end tests: two teams (named with the test's
 * namespace), their agents with customers, features, sessions and a call tree (lead-enrichment spawning three
 * researchers), `days` days of history up to `now`, and the demo's runaway — research-agent in a retry loop that
 * re-sends its growing context, untagged — in the last minutes.
 */
export interface DemoDataset {
  research: string;
  support: string;
  history: RunEvent[];
  runaway: RunEvent[];
}

const DAY = 86_400_000;
const CUSTOMERS = ['acme-corp', 'globex', 'initech', 'umbrella'];

interface Agent {
  team: 'research' | 'support';
  id: string;
  model: string;
  provider: string;
  runsPerDay: number;
  input: number;
  output: number;
  feature: string;
  children?: { id: string; model: string; provider: string; input: number; output: number }[];
}

const AGENTS: Agent[] = [
  {
    team: 'research',
    id: 'research-agent',
    model: 'claude-sonnet-4-5-20250929',
    provider: 'anthropic',
    runsPerDay: 12,
    input: 8000,
    output: 1500,
    feature: 'account-research',
  },
  {
    team: 'research',
    id: 'lead-enrichment',
    model: 'gpt-4o-mini',
    provider: 'openai',
    runsPerDay: 5,
    input: 1500,
    output: 200,
    feature: 'lead-scoring',
    children: [
      {
        id: 'company-research',
        model: 'claude-sonnet-4-5-20250929',
        provider: 'anthropic',
        input: 9000,
        output: 1200,
      },
      {
        id: 'person-research',
        model: 'claude-sonnet-4-5-20250929',
        provider: 'anthropic',
        input: 7000,
        output: 1000,
      },
      { id: 'summariser', model: 'gpt-4o-mini', provider: 'openai', input: 5000, output: 400 },
    ],
  },
  {
    team: 'research',
    id: 'citation-checker',
    model: 'gpt-4o-mini',
    provider: 'openai',
    runsPerDay: 20,
    input: 2500,
    output: 100,
    feature: 'account-research',
  },
  {
    team: 'support',
    id: 'support-triage',
    model: 'gpt-4o-2024-08-06',
    provider: 'openai',
    runsPerDay: 20,
    input: 2400,
    output: 500,
    feature: 'inbox-autoreply',
  },
  {
    team: 'support',
    id: 'email-classifier',
    model: 'gpt-4o-mini',
    provider: 'openai',
    runsPerDay: 30,
    input: 900,
    output: 40,
    feature: 'routing',
  },
];

export function demoDataset(ns: string, now: number, days = 10): DemoDataset {
  const teams = { research: `research-${ns}`, support: `support-${ns}` };
  let seed = 42;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const noisy = (v: number, spread = 0.2): number =>
    Math.max(1, Math.round(v * (1 + (rand() * 2 - 1) * spread)));
  const today = Math.floor(now / DAY) * DAY;
  const until = now - 15 * 60_000;
  const history: RunEvent[] = [];
  let n = 0;
  for (let day = today - days * DAY; day <= today; day += DAY) {
    for (const a of AGENTS) {
      const count = noisy(a.runsPerDay, 0.15);
      for (let i = 0; i < count; i++) {
        const finished = day + Math.floor(((i + rand()) / count) * DAY);
        if (finished >= until) continue;
        const runId = `${ns}-${a.id}-${++n}`;
        const base = runEvent({
          run_id: runId,
          agent_id: a.id,
          team: teams[a.team],
          model: a.model,
          provider: a.provider,
          input_tokens: noisy(a.input),
          output_tokens: noisy(a.output),
          started_at: finished - 3000,
          finished_at: finished,
          status: rand() < 0.05 ? 'error' : 'success',
          customer_id: CUSTOMERS[Math.floor(rand() * CUSTOMERS.length)],
          feature: a.feature,
          session_id: `${a.id}-s${Math.floor(finished / 1_800_000)}`,
          quality_score: Math.round((0.7 + rand() * 0.3) * 100) / 100,
        });
        history.push(base);
        for (const c of a.children ?? [])
          history.push({
            ...base,
            run_id: `${runId}-${c.id}`,
            agent_id: c.id,
            model: c.model,
            provider: c.provider,
            input_tokens: noisy(c.input),
            output_tokens: noisy(c.output),
            finished_at: finished + 1,
            parent_run_id: runId,
          });
      }
    }
  }
  const runaway: RunEvent[] = [];
  let context = 6000;
  for (let i = 0; i < 200; i++) {
    const finished = now - (200 - i) * 500;
    context = Math.min(180_000, Math.round(context * 1.04) + 2000);
    runaway.push(
      runEvent({
        run_id: `${ns}-runaway-${i}`,
        agent_id: 'research-agent',
        team: teams.research,
        model: 'claude-sonnet-4-5-20250929',
        provider: 'anthropic',
        input_tokens: context,
        output_tokens: 1800,
        feature: 'backfill',
        session_id: `backfill-${ns}`,
        started_at: finished - 400,
        finished_at: finished,
        status: i % 8 === 7 ? 'success' : 'error',
      }),
    );
  }
  return { ...teams, history, runaway };
}
