/**
 * console_spend_paint_ms: the console's Spend page over 30 days of demo-like data, from the page's load to its first
 * meaningful paint — the team's total and the stacked chart drawn — in Debian's Chromium (playwright-core), against
 * the built api on the real PostgreSQL. The data is the browser tests' demo slice (two teams, their agents, customers,
 * features, sessions, call trees and the runaway), 30 days of it, repeated to demo-like volume and stored as the
 * recorder stores runs.
 */
import { chromium } from 'playwright-core';
import { ApiKeyRepository } from '@libs/auth';
import type { RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { RunsWriter } from '../services/recorder/src/runs.writer';
import { demoDataset } from '../test/support/demo-dataset';
import { pricedRun } from '../test/support/fixtures';
import { quick, round, startBuiltService, stop } from './support';

const PORT = 18711;
const REPEAT = quick ? 10 : 40;
const LOADS = quick ? 5 : 10;

/** A cost in nano-USD for a run, as a rate card of $2.50/M input and $10/M output would price it. */
const costOf = (r: RunEvent): number => r.input_tokens * 2500 + r.output_tokens * 10_000;

async function main(): Promise<void> {
  const pool = createPool(
    process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/burnrate',
    2,
  );
  const now = Date.now();
  const data = demoDataset('bench', now, 30);
  const writer = new RunsWriter(pool);
  const started = Date.now();
  let stored = 0;
  for (let copy = 0; copy < REPEAT; copy++) {
    const runs = [...data.history, ...data.runaway].map((r) =>
      pricedRun(
        {
          ...r,
          run_id: `${r.run_id}-${copy}`,
          parent_run_id: r.parent_run_id && `${r.parent_run_id}-${copy}`,
        },
        costOf(r),
      ),
    );
    for (let i = 0; i < runs.length; i += 5000) stored += await writer.write(runs.slice(i, i + 5000));
  }
  const loadS = round((Date.now() - started) / 1000, 1);
  const { key } = await new ApiKeyRepository(pool).create(data.research, 'console bench', 'team');
  await pool.end();

  const api = await startBuiltService('api', PORT);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await page.goto(`http://127.0.0.1:${PORT}/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Log in' }).click();
    const painted = async () => {
      await page.getByTestId('total-spend').waitFor();
      await page.locator('.chart canvas').first().waitFor();
    };
    await painted();
    const times: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      const t0 = Date.now();
      await page.reload();
      await painted();
      times.push(Date.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    console.log(
      `console Spend page, 30 days (${stored} runs of team ${data.research} and its neighbour, stored in ${loadS} s): ` +
        `first meaningful paint median ${median} ms, worst ${times[times.length - 1]} ms over ${LOADS} loads`,
    );
    console.log(
      JSON.stringify({
        console_spend_paint_ms: median,
        console_spend_paint_max_ms: times[times.length - 1],
        console_bench_runs: stored,
      }),
    );
  } finally {
    await browser.close();
    await stop(api);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
