/** Seeds or refreshes the rate card from @pydantic/genai-prices' bundled data (overrides are kept). */
import { commonSpec, loadConfigOrExit } from '@libs/config';
import { createPool, runMigrations } from '@libs/db';
import { RateCardRepository } from '@libs/pricing-core';

async function main(): Promise<void> {
  const config = loadConfigOrExit(commonSpec);
  await runMigrations(config.DATABASE_URL);
  const pool = createPool(config.DATABASE_URL, 2);
  try {
    const rows = await new RateCardRepository(pool).refreshFromDataset();
    process.stdout.write(`rate card: ${rows} dataset rows upserted\n`);
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`seed-rate-card: ${(err as Error).message}\n`);
  process.exit(1);
});
