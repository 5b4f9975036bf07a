import { commonSpec, int, str } from '@libs/config';

export const detectorSpec = {
  ...commonSpec,
  PORT: int(9103, { min: 1, max: 65535 }),
  CONSUMER_GROUP: str('burnrate-detector'),
  /** Stable per replica (the pod name) so a restarted replica fences its predecessor's transactions at once. */
  INSTANCE_ID: str(process.env.HOSTNAME ?? 'local'),
  /** How often team settings and budgets are re-read from PostgreSQL. */
  SETTINGS_POLL_MS: int(5000, { min: 200 }),
  /**
   * How often the guard's decisions are checked against the wall clock: a partition holding one whose `until` has
   * passed is woken (a control record) so its owner lifts it in its transaction.
   */
  GUARD_SWEEP_MS: int(1000, { min: 100, max: 60_000 }),
};
