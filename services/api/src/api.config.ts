import { rateLimitSpec } from '@libs/auth';
import { commonSpec, int, type ConfigOf, type Field } from '@libs/config';
import { fxRates, type ExchangeRates } from './http';
import { consoleSpec } from './console/console.config';

export const apiSpec = {
  ...commonSpec,
  ...rateLimitSpec,
  ...consoleSpec,
  PORT: int(8080, { min: 1, max: 65535 }),
  /** PostgreSQL cancels a query of the api after this many seconds (answered 503), freeing its backend. */
  DB_STATEMENT_TIMEOUT_S: int(10, { min: 1, max: 3600 }),
  /** Longest [from, to) a time-range query may span, in days. */
  API_MAX_RANGE_DAYS: int(400, { min: 1 }),
  /** Most runs a call tree returns; a larger tree is cut there and answered with truncated: true. */
  API_TREE_MAX_NODES: int(2000, { min: 1, max: 100_000 }),
  /** Longest [from, to) a backtest (POST /v1/backtest) reports, in days; its replay starts up to 15 days earlier. */
  BACKTEST_MAX_DAYS: int(31, { min: 1, max: 400 }),
  /** Most stored runs one backtest replays (warm-up included); more is answered 400. */
  BACKTEST_MAX_RUNS: int(2_000_000, { min: 1 }),
  /**
   * Backtests one api replica runs at once (each replays for up to minutes on its event loop), and never two of one
   * team: one more is answered 429, so a team cannot take the replica's time from the others.
   */
  BACKTEST_CONCURRENCY: int(2, { min: 1, max: 64 }),
  /** Reporting currencies, e.g. "USD:GBP=0.79,USD:EUR=0.92" (`?currency=GBP`); parsed once, here. */
  FX_RATES: {
    describe: 'comma-separated FROM:TO=rate',
    parse: (raw: string | undefined) => fxRates(raw),
  } satisfies Field<ExchangeRates>,
  /**
   * Longest a manual guard block (POST/DELETE /v1/guard/blocks) waits for Kafka to acknowledge its records; past it the
   * request is answered 503 and nothing of it is recorded.
   */
  GUARD_PUBLISH_TIMEOUT_S: int(10, { min: 1, max: 120 }),
};

export type ApiConfig = ConfigOf<typeof apiSpec>;
