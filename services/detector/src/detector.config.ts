import { commonSpec, int, str } from '@libs/config';

export const detectorSpec = {
  ...commonSpec,
  PORT: int(9103, { min: 1, max: 65535 }),
  CONSUMER_GROUP: str('burnrate-detector'),
  /** Stable per replica (the pod name) so a restarted replica fences its predecessor's transactions at once. */
  INSTANCE_ID: str(process.env.HOSTNAME ?? 'local'),
  /** How far back (stream time) a repeated run_id is recognised and dropped, as in the aggregator... */
  DEDUPE_WINDOW_MS: int(15 * 60_000, { min: 0 }),
  /** ...and the most run ids remembered for it, per partition of runs.priced. */
  DEDUPE_MAX_IDS: int(200_000, { min: 1000 }),
  /** How often team settings and budgets are re-read from PostgreSQL. */
  SETTINGS_POLL_MS: int(5000, { min: 200 }),
};
