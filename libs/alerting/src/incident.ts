import { createHash } from 'node:crypto';
import type { Anomaly, Destination } from './types';

/** What a delivery does to its incident at the destination. */
export type DeliveryAction = 'trigger' | 'update' | 'resolve';

/**
 * The incident an anomaly belongs to, opaque: the detector's id, or (a record from a detector before incidents) one
 * derived from its dedupe key, so its firing and its resolve still meet.
 */
export function incidentKeyOf(a: Anomaly): string {
  return a.incident_id ?? `inc_${sha256(a.dedupe_key).slice(0, 32)}`;
}

export function actionOf(a: Anomaly): DeliveryAction {
  if (a.incident_action) return a.incident_action === 'open' ? 'trigger' : a.incident_action;
  return a.state === 'resolved' ? 'resolve' : a.state === 'escalated' ? 'update' : 'trigger';
}

/**
 * Whether a destination is sent an update of an incident it was paged for. Webhooks (machines, deduping on the
 * incident) get every one; PagerDuty every signal that fires or escalates (the same dedup_key folds it into the open
 * alert); a chat message or an email cannot be edited through a webhook or SMTP, so people there are told only when
 * the incident escalates. Every signal is listed in the resolve.
 */
export function takesUpdate(d: Destination, a: Anomaly): boolean {
  if (d.type === 'webhook') return true;
  if (d.type === 'pagerduty') return a.state !== 'resolved'; // a signal that clears is news only with the last one
  return a.state === 'escalated';
}

/** An opaque, header-safe id (no tenant text, no '.'), stable for the same input. */
export function opaqueId(prefix: string, of: string): string {
  return `${prefix}_${createHash('sha256').update(of).digest('base64url').slice(0, 32)}`;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
