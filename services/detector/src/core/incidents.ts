import { createHash } from 'node:crypto';
import type { Anomaly } from './anomaly';

/** The incident open for an agent (or a budget scope): the id its signals share, from its first one to its last. */
export interface OpenIncident {
  id: string;
  openedAt: number;
  /** False while only late data (never paged) has joined it: the first live record opens it for the routes. */
  paged: boolean;
}

/** Opaque and stable: the same input replayed gives the same id, and no tenant text reaches a header or a URL. */
export function incidentId(subject: string, openedAt: number): string {
  return `inc_${createHash('sha256').update(`${subject}\u0000${openedAt}`).digest('hex').slice(0, 32)}`;
}

/**
 * Joins the records one batch emitted about one subject into its incident, in order: the first signal to open while
 * none is open opens an incident ('open'); signals that fire, escalate or clear while others stay open update it
 * ('update'); the record that clears its last open signal resolves it ('resolve'), and the next signal opens a new one.
 * `open` is the set of the subject's open signals (dedupe keys) before the batch; returns the incident left open.
 */
export function joinIncident(
  subject: string,
  incident: OpenIncident | undefined,
  open: Set<string>,
  records: readonly Anomaly[],
): OpenIncident | undefined {
  let current = incident;
  for (const r of records) {
    if (r.state === 'resolved') open.delete(r.dedupe_key);
    else open.add(r.dedupe_key);
    let action: NonNullable<Anomaly['incident_action']>;
    if (!current) {
      current = { id: incidentId(subject, r.detected_at), openedAt: r.detected_at, paged: false };
      // a record that clears a signal opened before incidents existed (an upgrade) updates or resolves at once
      action = r.state === 'resolved' ? (open.size === 0 ? 'resolve' : 'update') : 'open';
    } else if (open.size === 0) action = 'resolve';
    else action = !current.paged && !r.late && r.state !== 'resolved' ? 'open' : 'update';
    if (!r.late) current.paged = true;
    r.incident_id = current.id;
    r.incident_action = action;
    r.incident_signals = open.size;
    if (open.size === 0) current = undefined;
  }
  return current;
}

/** A budget scope's incident is its one signal: opened by its firing, updated by escalations, resolved with it. */
export function soloIncident(r: Anomaly): void {
  r.incident_id = incidentId(r.dedupe_key, r.started_at);
  r.incident_action = r.state === 'resolved' ? 'resolve' : r.state === 'escalated' ? 'update' : 'open';
  r.incident_signals = r.state === 'resolved' ? 0 : 1;
}
