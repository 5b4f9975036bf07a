import { commonSpec, int, str } from '@libs/config';

export const pricingSpec = {
  ...commonSpec,
  PORT: int(9101, { min: 1, max: 65535 }),
  /** How often running instances look for rate card changes. */
  RATE_CARD_POLL_MS: int(5000, { min: 200 }),
  CONSUMER_GROUP: str('burnrate-pricing'),
  /** Stable per replica (the pod name) so a restarted replica fences its predecessor's transactions at once. */
  INSTANCE_ID: str(process.env.HOSTNAME ?? 'local'),
};
