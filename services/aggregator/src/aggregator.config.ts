import { tmpdir } from 'node:os';
import { commonSpec, int, str } from '@libs/config';

const HOUR = 3_600_000;

export const aggregatorSpec = {
  ...commonSpec,
  PORT: int(9102, { min: 1, max: 65535 }),
  CONSUMER_GROUP: str('burnrate-aggregator'),
  /** Stable per replica (the pod name) so a restarted replica fences its predecessor's transactions at once. */
  INSTANCE_ID: str(process.env.HOSTNAME ?? 'local'),
  /** Runs finishing this long before the partition's stream time still update their bucket as on-time runs. */
  GRACE_MS: int(3 * HOUR, { min: 0 }),
  /** The longest baseline a team can ask for, in days; memory per agent grows with it. */
  MAX_BASELINE_DAYS: int(14, { min: 1, max: 90 }),
  /** How far back (stream time) a repeated run_id is recognised and dropped... */
  DEDUPE_WINDOW_MS: int(15 * 60_000, { min: 0 }),
  /** ...and the most run ids remembered per partition for it. */
  DEDUPE_MAX_IDS: int(200_000, { min: 1000 }),
  /** Most runs handled in one transaction (state changes, stats and offsets commit together). */
  MAX_RUNS_PER_SLICE: int(4000, { min: 1 }),
  /** Agents without a run for this long (stream time) leave memory for the state directory... */
  IDLE_UNLOAD_MS: int(24 * HOUR, { min: 0 }),
  /** ...and so do the longest idle, whenever more than this many agents of a partition are in memory (~3 KB each). */
  MAX_AGENTS_IN_MEMORY: int(100_000, { min: 1 }),
  /**
   * Local scratch for idle agents (a file per assigned partition, rebuilt from the changelog on assignment, removed on
   * shutdown). In Kubernetes an emptyDir; size it at about 1 KB per agent.
   */
  STATE_DIR: str(tmpdir()),
  /** How often team settings (time zone, quality threshold, baseline days) are re-read from PostgreSQL. */
  SETTINGS_POLL_MS: int(5000, { min: 200 }),
};
