import { SecretBox } from '@libs/secrets';
import type { Destination } from './types';

/** The fields of a destination that grant whoever holds them the right to page someone: sealed at rest. */
export const DESTINATION_SECRET_FIELDS = ['url', 'webhook_url', 'secret', 'routing_key'] as const;

export function sealDestination(box: SecretBox, d: Destination): Destination {
  return box.sealFields(d, DESTINATION_SECRET_FIELDS);
}

export function openDestination(box: SecretBox, d: Destination): Destination {
  return box.openFields(d, DESTINATION_SECRET_FIELDS);
}

/** True when any secret field is plain or sealed with an older key: a rotation seals it again. */
export function destinationNeedsSealing(box: SecretBox, d: Destination): boolean {
  const o = d as Record<string, unknown>;
  return DESTINATION_SECRET_FIELDS.some((f) => typeof o[f] === 'string' && box.isStale(o[f] as string));
}
