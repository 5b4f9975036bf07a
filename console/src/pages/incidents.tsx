import { useMemo } from 'preact/hooks';
import { api, itemsOf, type Whoami } from '../api';
import { formatTime } from '../format';
import { href, navigate } from '../router';
import { AnomalyTable } from './agent';
import { TeamField, type Incident } from './spend';
import { Async, DAY, Field, Severity, State, TableBox, useData } from '../ui';

interface Delivery {
  delivery_id: string;
  anomaly_id: string;
  dedupe_key: string;
  team: string;
  state: string;
  destination_type: string;
  destination: unknown;
  attempt: number;
  outcome: string;
  http_status: number | null;
  error: string | null;
  at: string;
}

const OUTCOME_MARK: Record<string, string> = {
  delivered: '✓',
  accepted: '✓',
  retrying: '↻',
  failed: '✗',
  suppressed: '–',
};

/** Where a delivery went, as the api shows it (secrets masked): its URL or address when there is one. */
function destinationText(d: Delivery): string {
  const dest = d.destination as Record<string, unknown> | null;
  const where = dest && (dest.url ?? dest.webhook_url ?? dest.to ?? dest.routing_key);
  return `${d.destination_type}${where ? ` ${Array.isArray(where) ? where.join(', ') : String(where)}` : ''}`;
}

export function IncidentsPage({ query, me }: { query: URLSearchParams; me: Whoami }) {
  const days = Number(query.get('days') ?? 7) || 7;
  const state = query.get('state') ?? '';
  const team = query.get('team') ?? '';
  const from = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - days * DAY).toISOString();
  const set = (change: Record<string, string>) => navigate(['incidents'], { days, state, team, ...change });
  const scope = { from, team: team || null };
  const incidents = useData(
    () =>
      api<unknown>('/v1/incidents', { ...scope, state: state || null, limit: 200 }).then((a) =>
        itemsOf<Incident>(a, 'incidents'),
      ),
    [from, state, team],
  );
  const deliveries = useData(
    () =>
      api<unknown>('/v1/alert-deliveries', { ...scope, limit: 1000 }).then((a) =>
        itemsOf<Delivery>(a, 'deliveries'),
      ),
    [from, team],
  );
  const anomalies = useData(
    () => api<unknown>('/v1/anomalies', { ...scope, limit: 200 }).then((a) => itemsOf(a, 'anomalies')),
    [from, team],
  );
  return (
    <section>
      <h1>Anomalies and incidents</h1>
      <form class="controls" onSubmit={(e) => e.preventDefault()} aria-label="What to show">
        <Field label="Opened in">
          <select value={String(days)} onChange={(e) => set({ days: (e.target as HTMLSelectElement).value })}>
            {[1, 7, 14, 30, 90].map((d) => (
              <option key={d} value={String(d)}>
                last {d} day{d === 1 ? '' : 's'}
              </option>
            ))}
          </select>
        </Field>
        <Field label="State">
          <select value={state} onChange={(e) => set({ state: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            <option value="open">open</option>
            <option value="resolved">resolved</option>
          </select>
        </Field>
        <TeamField me={me} team={team} onChange={set} />
      </form>
      <h2>Incidents</h2>
      <Async state={incidents} what="incidents">
        {(list) => <Incidents incidents={list} deliveries={deliveries.data ?? []} />}
      </Async>
      <h2>Every anomaly record</h2>
      <Async state={anomalies} what="anomalies">
        {(list) => <AnomalyTable anomalies={list as Parameters<typeof AnomalyTable>[0]['anomalies']} />}
      </Async>
    </section>
  );
}

function Incidents({ incidents, deliveries }: { incidents: Incident[]; deliveries: Delivery[] }) {
  const byKey = useMemo(() => {
    const m = new Map<string, Delivery[]>();
    for (const d of deliveries)
      m.set(`${d.team}/${d.dedupe_key}`, [...(m.get(`${d.team}/${d.dedupe_key}`) ?? []), d]);
    return m;
  }, [deliveries]);
  if (incidents.length === 0) return <p>No incident in this range.</p>;
  return (
    <ol class="incidents" data-testid="incidents">
      {incidents.map((i) => {
        const sent = i.signals
          .flatMap((s) => byKey.get(`${i.team}/${s.dedupe_key}`) ?? [])
          .sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
        return (
          <li key={i.incident_id} class="incident">
            <div class="incident-head">
              <State state={i.state} /> <Severity level={i.severity} />{' '}
              <strong>
                {i.agent_id ? (
                  <a href={href(['agent', i.agent_id], { team: i.team })}>{i.agent_id}</a>
                ) : (
                  `team ${i.team}`
                )}
              </strong>{' '}
              <span class="sub">
                {i.team} · opened {formatTime(i.opened_at)}
                {i.resolved_at && ` · resolved ${formatTime(i.resolved_at)}`} · {i.incident_id}
              </span>
            </div>
            <ul class="signals">
              {i.signals.map((s) => (
                <li key={s.dedupe_key}>
                  <Severity level={s.severity} /> <code>{s.rule}</code> ({s.state}): {s.summary}
                </li>
              ))}
            </ul>
            {sent.length > 0 ? (
              <details>
                <summary>
                  {sent.length} deliver{sent.length === 1 ? 'y' : 'ies'}:{' '}
                  {[...new Set(sent.map((d) => d.outcome))].join(', ')}
                </summary>
                <TableBox label="Deliveries">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">At</th>
                        <th scope="col">Destination</th>
                        <th scope="col">Signal state</th>
                        <th scope="col">Attempt</th>
                        <th scope="col">Outcome</th>
                      </tr>
                    </thead>
                    <tbody>
                      {sent.map((d) => (
                        <tr key={d.delivery_id}>
                          <td>{formatTime(d.at)}</td>
                          <td>{destinationText(d)}</td>
                          <td>{d.state}</td>
                          <td class="num">{d.attempt}</td>
                          <td>
                            <span class={`badge outcome-${d.outcome}`}>
                              <span aria-hidden="true">{OUTCOME_MARK[d.outcome] ?? '•'}</span> {d.outcome}
                            </span>
                            {d.http_status !== null && ` (HTTP ${d.http_status})`}
                            {d.error && ` — ${d.error}`}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </TableBox>
              </details>
            ) : (
              <p class="sub">No delivery recorded (no route matched, or not sent yet).</p>
            )}
          </li>
        );
      })}
    </ol>
  );
}
