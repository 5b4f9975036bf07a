import type { Anomaly } from './anomaly';
import { incidentId, joinIncident, soloIncident, type OpenIncident } from './incidents';

const rec = (dedupe: string, state: Anomaly['state'], at: number, late = false): Anomaly =>
  ({
    anomaly_id: `${dedupe}#${at}`,
    dedupe_key: dedupe,
    state,
    detected_at: at,
    started_at: at,
    late,
    incident_id: null,
    incident_action: null,
    incident_signals: null,
  }) as unknown as Anomaly;

const view = (rs: Anomaly[]) =>
  rs.map((r) => [r.dedupe_key, r.incident_action, r.incident_signals, r.incident_id]);

describe(joinIncident.name, () => {
  it('joins the signals open together into one incident, resolved by the last one to clear', () => {
    const open = new Set<string>();
    const batch1 = [rec('z', 'firing', 1), rec('jump', 'firing', 1), rec('z', 'escalated', 2)];
    let inc = joinIncident('t/a', undefined, open, batch1);
    const id = incidentId('t/a', 1);
    expect(view(batch1)).toEqual([
      ['z', 'open', 1, id],
      ['jump', 'update', 2, id],
      ['z', 'update', 2, id],
    ]);
    expect(inc).toEqual({ id, openedAt: 1, paged: true });
    const batch2 = [
      rec('z', 'resolved', 3),
      rec('loop', 'firing', 4),
      rec('jump', 'resolved', 5),
      rec('loop', 'resolved', 6),
    ];
    inc = joinIncident('t/a', inc, open, batch2);
    expect(view(batch2)).toEqual([
      ['z', 'update', 1, id],
      ['loop', 'update', 2, id],
      ['jump', 'update', 1, id],
      ['loop', 'resolve', 0, id],
    ]);
    expect(inc).toBeUndefined();
  });

  it('opens a new incident for a signal that fires again after the incident resolved', () => {
    const open = new Set<string>();
    const rs = [rec('z', 'firing', 1), rec('z', 'resolved', 2), rec('z', 'firing', 3)];
    const inc = joinIncident('t/a', undefined, open, rs);
    expect(view(rs)).toEqual([
      ['z', 'open', 1, incidentId('t/a', 1)],
      ['z', 'resolve', 0, incidentId('t/a', 1)],
      ['z', 'open', 1, incidentId('t/a', 3)],
    ]);
    expect(incidentId('t/a', 1)).not.toBe(incidentId('t/a', 3));
    expect(inc?.id).toBe(incidentId('t/a', 3));
  });

  it('opens for the routes at its first live record when only late data had joined it', () => {
    const open = new Set<string>();
    const rs = [rec('z', 'firing', 1, true), rec('jump', 'firing', 2)];
    joinIncident('t/a', undefined, open, rs);
    expect(rs.map((r) => r.incident_action)).toEqual(['open', 'open']);
    expect(rs[0].incident_id).toBe(rs[1].incident_id);
  });

  it('carries an incident across batches and restarts (its state is plain data)', () => {
    const open = new Set(['z']);
    const kept: OpenIncident = JSON.parse(JSON.stringify({ id: 'inc_x', openedAt: 1, paged: true }));
    const rs = [rec('z', 'resolved', 9)];
    expect(joinIncident('t/a', kept, open, rs)).toBeUndefined();
    expect(view(rs)).toEqual([['z', 'resolve', 0, 'inc_x']]);
  });

  it('ids are opaque and free of tenant text', () => {
    expect(incidentId('team-日本/<!channel>', 1)).toMatch(/^inc_[0-9a-f]{32}$/);
  });
});

describe(soloIncident.name, () => {
  it('a budget scope is an incident of one signal', () => {
    const rs = [rec('b', 'firing', 1), rec('b', 'escalated', 2), rec('b', 'resolved', 3)];
    for (const r of rs) {
      r.started_at = 1; // kept across escalations and on resolution
      soloIncident(r);
    }
    expect(rs.map((r) => [r.incident_action, r.incident_signals])).toEqual([
      ['open', 1],
      ['update', 1],
      ['resolve', 0],
    ]);
    expect(new Set(rs.map((r) => r.incident_id)).size).toBe(1);
  });
});
