import { useMemo, useState } from 'preact/hooks';
import { api, ApiError, itemsOf, type Money, type Whoami } from '../api';
import { Legend, Lines, type Line } from '../charts';
import { formatAmount, formatCount, formatMoney, formatTime } from '../format';
import { href, navigate } from '../router';
import { Async, DAY, ErrorBox, Severity, State, TableBox, useData } from '../ui';

interface DayStats {
  team: string;
  agent_id: string;
  day_start: string;
  currency: string;
  spend_nanos: string;
  spend: number;
  runs: number;
  successful_runs: number;
  input_tokens: string;
  baseline_days: number;
  baseline_mean: number;
  baseline_stddev: number;
}
interface SpendDay {
  bucket: string;
  key: string | null;
  cost: Money;
  runs: number;
}
interface SessionStats {
  sessions: number;
  mean: Money | null;
  median: Money | null;
  p95: Money | null;
  outliers: { session_id: string; runs: number; cost: Money }[];
}
export interface RunItem {
  run_id: string;
  team: string;
  agent_id: string;
  model: string;
  status: string;
  customer_id: string | null;
  finished_at: string;
  input_tokens: number;
  output_tokens: number;
  children: number;
  parent_run_id: string | null;
  cost: Money;
}
interface Anomaly {
  anomaly_id: string;
  rule: string;
  severity: string;
  state: string;
  summary: string;
  detected_at: string;
}

const DEFAULT_Z = 2.5;

/** The team's (or the agent's own) z threshold, for the band; the default when the key may not read settings. */
async function zThreshold(team: string, agentId: string): Promise<{ z: number; from: string }> {
  try {
    const s = await api<{ effective?: { zscore_threshold?: number } }>(
      `/v1/teams/${encodeURIComponent(team)}/agents/${encodeURIComponent(agentId)}/settings`,
    );
    if (typeof s.effective?.zscore_threshold === 'number')
      return { z: s.effective.zscore_threshold, from: 'the settings in force for this agent' };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401) throw err;
  }
  return { z: DEFAULT_Z, from: 'the default' };
}

export function AgentPage({ agentId, query, me }: { agentId: string; query: URLSearchParams; me: Whoami }) {
  const days = Number(query.get('days') ?? 30) || 30;
  const asked = query.get('team') ?? (me.role === 'team' ? me.team : '');
  const since = new Date(Math.floor(Date.now() / DAY) * DAY - days * DAY).toISOString();
  const stats = useData(
    () =>
      api<{ agent_stats: DayStats[] }>('/v1/agent-stats', {
        agent_id: agentId,
        team: asked || null,
        from: since,
        limit: 1000,
      }).then((a) => a.agent_stats),
    [agentId, asked, since],
  );
  // An admin following a link without a team: the agent's team, as its stats name it.
  const team = asked || stats.data?.[0]?.team || '';
  const scoped = { agent_id: agentId, team: team || null };
  const spend = useData(
    () =>
      team
        ? api<{ rows: SpendDay[] }>('/v1/spend', {
            group_by: 'agent',
            bucket: 'day',
            from: since,
            team,
          }).then((a) => a.rows.filter((r) => r.key === agentId))
        : Promise.resolve([]),
    [agentId, team, since],
  );
  const z = useData(() => (team ? zThreshold(team, agentId) : Promise.resolve(null)), [team, agentId]);
  const sessions = useData(
    () => api<SessionStats>('/v1/sessions/stats', { ...scoped, from: since }),
    [agentId, team, since],
  );
  const anomalies = useData(
    () =>
      api<unknown>('/v1/anomalies', { ...scoped, from: since, limit: 100 }).then((a) =>
        itemsOf<Anomaly>(a, 'anomalies'),
      ),
    [agentId, team, since],
  );

  return (
    <section>
      <p class="crumbs">
        <a href={href(['customers'])}>Top customers</a> › agent
      </p>
      <h1>
        {agentId} {team && <span class="sub">team {team}</span>}
      </h1>
      <form class="controls" onSubmit={(e) => e.preventDefault()} aria-label="Time range">
        <label class="field">
          <span>Days</span>
          <select
            value={String(days)}
            onChange={(e) =>
              navigate(['agent', agentId], {
                team: asked || null,
                days: (e.target as HTMLSelectElement).value,
              })
            }
          >
            {[7, 14, 30, 60, 90].map((d) => (
              <option key={d} value={String(d)}>
                last {d} days
              </option>
            ))}
          </select>
        </label>
      </form>
      <Async state={stats} what="the baseline">
        {(rows) => (
          <Async state={spend} what="daily spend">
            {(days) => (
              <DailyCharts
                spend={days}
                stats={rows.filter((r) => !team || r.team === team)}
                z={z.data ?? null}
              />
            )}
          </Async>
        )}
      </Async>
      <h2>Sessions</h2>
      <Async state={sessions} what="sessions">
        {(s) => <Sessions stats={s} />}
      </Async>
      <h2>Recent runs</h2>
      {team ? <RecentRuns agentId={agentId} team={team} /> : <p>No runs of this agent in this range.</p>}
      <h2>Anomalies</h2>
      <Async state={anomalies} what="anomalies">
        {(list) => <AnomalyTable anomalies={list} />}
      </Async>
    </section>
  );
}

const utcDay = (iso: string): number => Math.floor((Date.parse(iso) + DAY / 2) / DAY) * DAY;

/**
 * Daily spend and cost per run from the stored runs (every day), against the baseline band and input tokens per run
 * as the aggregator published them (the days it published a figure for; its days are the team's, matched here to the
 * nearest UTC day).
 */
function DailyCharts({
  spend,
  stats,
  z,
}: {
  spend: SpendDay[];
  stats: DayStats[];
  z: { z: number; from: string } | null;
}) {
  const view = useMemo(() => {
    const byDay = new Map<number, { spend: number; runs: number; currency: string }>();
    for (const r of spend) {
      const d = utcDay(r.bucket);
      const seen = byDay.get(d) ?? { spend: 0, runs: 0, currency: r.cost.currency };
      seen.spend += Number(r.cost.amount);
      seen.runs += r.runs;
      byDay.set(d, seen);
    }
    const published = new Map(stats.map((s) => [utcDay(s.day_start), s]));
    const xs = [...new Set([...byDay.keys(), ...published.keys()])].sort((a, b) => a - b);
    const days = xs.map((x) => ({
      at: x,
      spend: byDay.get(x)?.spend ?? 0,
      runs: byDay.get(x)?.runs ?? 0,
      currency: byDay.get(x)?.currency ?? published.get(x)?.currency ?? 'USD',
      stats: published.get(x),
    }));
    const k = z?.z ?? DEFAULT_Z;
    const has = (s: DayStats | undefined): s is DayStats => s !== undefined && s.baseline_days > 0;
    const upper = days.map((d) =>
      has(d.stats) ? d.stats.baseline_mean + k * d.stats.baseline_stddev : null,
    );
    const lower = days.map((d) =>
      has(d.stats) ? Math.max(0, d.stats.baseline_mean - k * d.stats.baseline_stddev) : null,
    );
    const lines: Line[] = [
      { label: 'Daily spend', values: days.map((d) => d.spend), points: true, index: 0 },
      { label: `Baseline + ${k}σ`, values: upper, index: 8, dash: [6, 4] },
      { label: `Baseline − ${k}σ`, values: lower, index: 8, dash: [6, 4] },
      {
        label: 'Baseline mean',
        values: days.map((d) => (has(d.stats) ? d.stats.baseline_mean : null)),
        index: 3,
        dash: [2, 3],
      },
    ];
    const flagged = days.map((_, i) => i).filter((i) => upper[i] !== null && days[i].spend > upper[i]!);
    const tokensPerRun = (d: (typeof days)[number]) =>
      d.stats && d.stats.runs > 0 ? Number(d.stats.input_tokens) / d.stats.runs : null;
    const perRun: Line[] = [
      {
        label: 'Cost per run',
        values: days.map((d) => (d.runs ? d.spend / d.runs : null)),
        points: true,
        index: 0,
      },
      {
        label: 'Input tokens per run',
        values: days.map(tokensPerRun),
        scale: 'tokens',
        points: true,
        index: 1,
        dash: [6, 3],
      },
    ];
    return { days, xs, lines, flagged, perRun, k, upper, lower, tokensPerRun };
  }, [spend, stats, z]);
  if (view.days.length === 0)
    return (
      <p class="empty">
        No daily figures for this agent in this range (the aggregator publishes them per run).
      </p>
    );
  const currency = view.days[0].currency;
  const money = (v: number) => formatAmount(v, currency);
  return (
    <>
      <figure class="figure">
        <figcaption>
          Daily spend ({currency}, UTC days) against its baseline band: mean ± {view.k}·σ of the days before,
          as the aggregator last published it (z from {z?.from ?? 'the default'}). Days above the band are
          marked ▲.
        </figcaption>
        <Lines
          xs={view.xs}
          lines={view.lines}
          band={[1, 2]}
          ranges={{ lower: view.lower, upper: view.upper }}
          flagged={view.flagged}
          formats={{ y: money }}
          label="Line chart of daily spend with the baseline band; the same figures are in the table below."
        />
        <Legend
          items={[
            { label: 'Daily spend (points; ▲ above the band)', index: 0, style: 'line' },
            { label: `Baseline band (mean ± ${view.k}σ), hatched`, index: 7 },
            { label: 'Baseline mean', index: 3, style: 'dashed' },
          ]}
        />
      </figure>
      <figure class="figure">
        <figcaption>Cost per run ({currency}, left) and input tokens per run (right), per day</figcaption>
        <Lines
          xs={view.xs}
          lines={view.perRun}
          formats={{ y: money, tokens: (v) => formatCount(Math.round(v)) }}
          label="Line chart of cost per run and input tokens per run per day; the figures are in the table below."
          height={220}
        />
        <Legend
          items={[
            { label: 'Cost per run (solid)', index: 0, style: 'line' },
            { label: 'Input tokens per run (dashed)', index: 1, style: 'dashed' },
          ]}
        />
      </figure>
      <details>
        <summary>The daily figures as a table</summary>
        <TableBox label="Daily figures">
          <table data-testid="agent-days">
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col" class="num">
                  Spend
                </th>
                <th scope="col" class="num">
                  Band
                </th>
                <th scope="col" class="num">
                  Runs
                </th>
                <th scope="col" class="num">
                  Cost per run
                </th>
                <th scope="col" class="num">
                  Input tokens per run
                </th>
              </tr>
            </thead>
            <tbody>
              {view.days.map((d, i) => (
                <tr key={d.at} class={view.flagged.includes(i) ? 'flagged' : ''}>
                  <th scope="row">
                    {view.flagged.includes(i) && <span aria-label="above the band">▲ </span>}
                    {formatTime(d.at, false)}
                  </th>
                  <td class="num">{money(d.spend)}</td>
                  <td class="num">
                    {view.upper[i] !== null ? `${money(view.lower[i]!)} – ${money(view.upper[i]!)}` : '—'}
                  </td>
                  <td class="num">{formatCount(d.runs)}</td>
                  <td class="num">{d.runs ? money(d.spend / d.runs) : '—'}</td>
                  <td class="num">
                    {view.tokensPerRun(d) === null ? '—' : formatCount(Math.round(view.tokensPerRun(d)!))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      </details>
    </>
  );
}

function Sessions({ stats }: { stats: SessionStats }) {
  if (stats.sessions === 0) return <p>No sessions (runs with a session_id) in this range.</p>;
  return (
    <>
      <dl class="facts">
        <div>
          <dt>Sessions</dt>
          <dd>{formatCount(stats.sessions)}</dd>
        </div>
        <div>
          <dt>Median session</dt>
          <dd>{formatMoney(stats.median)}</dd>
        </div>
        <div>
          <dt>Mean</dt>
          <dd>{formatMoney(stats.mean)}</dd>
        </div>
        <div>
          <dt>95th percentile</dt>
          <dd>{formatMoney(stats.p95)}</dd>
        </div>
      </dl>
      {stats.outliers.length > 0 ? (
        <>
          <h3>Outliers (over 5× the median)</h3>
          <ul>
            {stats.outliers.map((o) => (
              <li key={o.session_id}>
                {o.session_id}: {formatMoney(o.cost)} over {formatCount(o.runs)} runs
              </li>
            ))}
          </ul>
        </>
      ) : (
        <p>No session above 5× the median.</p>
      )}
    </>
  );
}

function RecentRuns({ agentId, team }: { agentId: string; team: string }) {
  const [pages, setPages] = useState<{ items: RunItem[]; next: string | null }[]>([]);
  const first = useData(
    () =>
      api<{ items?: RunItem[]; next_cursor?: string | null }>('/v1/runs', {
        agent_id: agentId,
        team,
        limit: 20,
      }),
    [agentId, team],
  );
  const [error, setError] = useState<Error | null>(null);
  return (
    <Async state={first} what="recent runs">
      {(page) => {
        const all = [page, ...pages.map((p) => ({ items: p.items, next_cursor: p.next }))];
        const items = all.flatMap((p) => itemsOf<RunItem>(p));
        const next = all[all.length - 1].next_cursor ?? null;
        const more = async () => {
          try {
            const p = await api<{ items?: RunItem[]; next_cursor?: string | null }>('/v1/runs', {
              agent_id: agentId,
              team,
              limit: 20,
              cursor: next,
            });
            setPages([...pages, { items: itemsOf<RunItem>(p), next: p.next_cursor ?? null }]);
          } catch (err) {
            setError(err as Error);
          }
        };
        if (items.length === 0) return <p>No runs of this agent in the last 7 days.</p>;
        return (
          <>
            <RunsTable runs={items} />
            {error && <ErrorBox error={error} />}
            {next && (
              <button type="button" onClick={() => void more()}>
                Show older runs
              </button>
            )}
          </>
        );
      }}
    </Async>
  );
}

export function RunsTable({ runs }: { runs: RunItem[] }) {
  return (
    <TableBox label="Recent runs">
      <table data-testid="recent-runs">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Finished</th>
            <th scope="col">Status</th>
            <th scope="col">Model</th>
            <th scope="col">Customer</th>
            <th scope="col" class="num">
              Input tokens
            </th>
            <th scope="col" class="num">
              Cost
            </th>
            <th scope="col" class="num">
              Child runs
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={`${r.team}/${r.run_id}`}>
              <th scope="row">
                <a href={href(['run', r.run_id], { team: r.team })}>{r.run_id}</a>
                {r.parent_run_id && (
                  <span class="sub">
                    {' '}
                    (child of <a href={href(['run', r.parent_run_id], { team: r.team })}>{r.parent_run_id}</a>
                    )
                  </span>
                )}
              </th>
              <td>{formatTime(r.finished_at)}</td>
              <td>{r.status}</td>
              <td>{r.model}</td>
              <td>{r.customer_id ?? <em>(none)</em>}</td>
              <td class="num">{formatCount(r.input_tokens)}</td>
              <td class="num">{formatMoney(r.cost)}</td>
              <td class="num">{formatCount(r.children)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}

export function AnomalyTable({ anomalies }: { anomalies: Anomaly[] }) {
  if (anomalies.length === 0) return <p>No anomalies in this range.</p>;
  return (
    <TableBox label="Anomalies">
      <table data-testid="anomalies">
        <thead>
          <tr>
            <th scope="col">Detected</th>
            <th scope="col">Rule</th>
            <th scope="col">Severity</th>
            <th scope="col">State</th>
            <th scope="col">Summary</th>
          </tr>
        </thead>
        <tbody>
          {anomalies.map((a) => (
            <tr key={a.anomaly_id}>
              <td>{formatTime(a.detected_at)}</td>
              <td>{a.rule}</td>
              <td>
                <Severity level={a.severity} />
              </td>
              <td>
                <State state={a.state} />
              </td>
              <td>{a.summary}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}
