import type { Pool } from 'pg';
import type { RunEvent } from '@libs/contracts';
import { RateCardResolver, datasetRows } from '@libs/pricing-core';
import { until } from './wait';

/** The rate card the services seed, for the exact cost a test expects. */
export async function seededCard(): Promise<RateCardResolver> {
  return new RateCardResolver(await datasetRows('test'));
}

/** Nano-units `card` (the seeded one) prices `r` at; a run it does not price is a mistake in the test's data. */
export function seededCost(card: RateCardResolver, r: RunEvent): bigint {
  const p = card.price(r);
  if (!p.ok || p.result.status !== 'priced') throw new Error(`test data must be priceable: ${r.model}`);
  return BigInt(p.result.costs.total);
}

/**
 * Waits until `team` has as many stored runs as `runs`, and returns what is stored beside what should be: each run
 * once, at its exact price (compare the two with toEqual).
 */
export async function storedBeside(
  pool: Pool,
  team: string,
  runs: readonly RunEvent[],
): Promise<{ stored: { n: string; cost: string }; expected: { n: string; cost: string } }> {
  const card = await seededCard();
  const expected = {
    n: String(runs.length),
    cost: runs.reduce((sum, r) => sum + seededCost(card, r), 0n).toString(),
  };
  const stored = await until(
    `${runs.length} runs of ${team} stored`,
    async () =>
      (
        await pool.query<{ n: string; cost: string }>(
          'select count(*) as n, coalesce(sum(total_cost_nanos), 0) as cost from runs where team = $1',
          [team],
        )
      ).rows[0],
    (s) => Number(s.n) >= runs.length,
  );
  return { stored, expected };
}
