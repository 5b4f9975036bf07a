import { useMemo } from 'preact/hooks';
import { api, itemsOf, type Money, type Whoami } from '../api';
import { Legend, StackedBars, useHover, type Marker, type Stack } from '../charts';
import { formatAmount, formatCount, formatNanos, formatTime, toNanos } from '../format';
import { href, navigate } from '../router';
import { Async, Field, RANGES, Severity, TableBox, rangeOf, useData } from '../ui';

export const GROUPS = [
  { value: 'agent', label: 'Agent' },
  { value: 'customer', label: 'Customer' },
  { value: 'feature', label: 'Feature' },
  { value: 'team', label: 'Team' },
  { value: 'model', label: 'Model' },
  { value: 'cost_centre', label: 'Cost centre' },
];
const BUCKETS = ['hour', 'day', 'week'];
const STEP: Record<string, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };
/** Series drawn one by one; the rest of the keys are summed as "other". */
const MAX_SERIES = 8;

interface SpendRow {
  bucket: string;
  key: string | null;
  cost: Money;
  runs: number;
  successful_runs: number;
}
interface SpendAnswer {
  rows: SpendRow[];
}
export interface Incident {
  incident_id: string;
  team: string;
  agent_id: string | null;
  state: string;
  severity: string;
  opened_at: string;
  resolved_at: string | null;
  signals: { dedupe_key: string; rule: string; severity: string; state: string; summary: string }[];
}

interface Totals {
  currency: string;
  cost: bigint;
  runs: number;
  ok: number;
}

/** Per key over the range, biggest first; per currency over everything. */
function summarise(rows: SpendRow[]) {
  const byKey = new Map<
    string,
    { key: string | null; cost: bigint; runs: number; ok: number; currency: string }
  >();
  const byCurrency = new Map<string, Totals>();
  for (const r of rows) {
    const nanos = toNanos(r.cost.amount);
    const id = `${r.key ?? '\u0000'}\u0001${r.cost.currency}`;
    const k = byKey.get(id) ?? { key: r.key, cost: 0n, runs: 0, ok: 0, currency: r.cost.currency };
    k.cost += nanos;
    k.runs += r.runs;
    k.ok += r.successful_runs;
    byKey.set(id, k);
    const t = byCurrency.get(r.cost.currency) ?? { currency: r.cost.currency, cost: 0n, runs: 0, ok: 0 };
    t.cost += nanos;
    t.runs += r.runs;
    t.ok += r.successful_runs;
    byCurrency.set(r.cost.currency, t);
  }
  const keys = [...byKey.values()].sort((a, b) => (b.cost > a.cost ? 1 : b.cost < a.cost ? -1 : 0));
  return { keys, totals: [...byCurrency.values()] };
}

const keyLabel = (key: string | null): string => key ?? '(none)';

export function SpendPage({ query, me }: { query: URLSearchParams; me: Whoami }) {
  const group = query.get('group_by') ?? 'agent';
  const bucket = query.get('bucket') ?? 'day';
  const range = query.get('range') ?? '30d';
  const currency = query.get('currency') ?? '';
  const team = query.get('team') ?? '';
  const [from, to] = rangeOf(range, query.get('from'), query.get('to'));
  const params = {
    group_by: group,
    bucket,
    range,
    currency,
    team,
    from: range === 'custom' ? query.get('from') : null,
    to: range === 'custom' ? query.get('to') : null,
  };
  const set = (change: Record<string, string>) => navigate(['spend'], { ...params, ...change });
  const scope = { from: from.toISOString(), to: to.toISOString(), team: team || null };

  const spend = useData(
    () => api<SpendAnswer>('/v1/spend', { ...scope, group_by: group, bucket, currency: currency || null }),
    [group, bucket, scope.from, scope.to, currency, team],
  );
  const incidents = useData(
    () =>
      api<unknown>('/v1/incidents', { ...scope, limit: 200 }).then((a) => itemsOf<Incident>(a, 'incidents')),
    [scope.from, scope.to, team],
  );

  return (
    <section>
      <h1>Spend</h1>
      <form class="controls" onSubmit={(e) => e.preventDefault()} aria-label="What to show">
        <Field label="Stack by">
          <select value={group} onChange={(e) => set({ group_by: (e.target as HTMLSelectElement).value })}>
            {GROUPS.map((g) => (
              <option key={g.value} value={g.value}>
                {g.label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Bucket">
          <select value={bucket} onChange={(e) => set({ bucket: (e.target as HTMLSelectElement).value })}>
            {BUCKETS.map((b) => (
              <option key={b} value={b}>
                {b}
              </option>
            ))}
          </select>
        </Field>
        <RangeFields range={range} query={query} onChange={set} />
        <CurrencyField me={me} currency={currency} onChange={set} />
        <TeamField me={me} team={team} onChange={set} />
      </form>
      <Async state={spend} what="spend">
        {(answer) => (
          <SpendView
            rows={answer.rows}
            group={group}
            bucket={bucket}
            incidents={incidents.data ?? []}
            team={team}
            span={[from.getTime(), to.getTime()]}
          />
        )}
      </Async>
    </section>
  );
}

/** The time-range picker: presets, or two dates. */
/** The reporting currency of a page: as priced, or one of those FX_RATES configures. */
export function CurrencyField({
  me,
  currency,
  onChange,
}: {
  me: Whoami;
  currency: string;
  onChange: (change: Record<string, string>) => void;
}) {
  return (
    <Field label="Currency">
      <select
        value={currency}
        onChange={(e) => onChange({ currency: (e.target as HTMLSelectElement).value })}
      >
        <option value="">as priced</option>
        {me.reporting_currencies.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    </Field>
  );
}

/** An admin key's team filter (empty: every team); a team key reads its own team and is shown none. */
export function TeamField({
  me,
  team,
  onChange,
}: {
  me: Whoami;
  team: string;
  onChange: (change: Record<string, string>) => void;
}) {
  if (me.role !== 'admin') return null;
  return (
    <Field label="Team">
      <input
        type="text"
        value={team}
        placeholder="every team"
        onChange={(e) => onChange({ team: (e.target as HTMLInputElement).value.trim() })}
      />
    </Field>
  );
}

export function RangeFields({
  range,
  query,
  onChange,
}: {
  range: string;
  query: URLSearchParams;
  onChange: (change: Record<string, string>) => void;
}) {
  const today = new Date().toISOString().slice(0, 10);
  return (
    <>
      <Field label="Time range">
        <select
          value={range}
          onChange={(e) => {
            const value = (e.target as HTMLSelectElement).value;
            onChange(
              value === 'custom'
                ? {
                    range: value,
                    from:
                      query.get('from') ?? new Date(Date.now() - 14 * 86_400_000).toISOString().slice(0, 10),
                    to: query.get('to') ?? today,
                  }
                : { range: value },
            );
          }}
        >
          {RANGES.map((r) => (
            <option key={r.value} value={r.value}>
              {r.label}
            </option>
          ))}
          <option value="custom">Between dates…</option>
        </select>
      </Field>
      {range === 'custom' && (
        <>
          <Field label="From (UTC)">
            <input
              type="date"
              value={query.get('from') ?? ''}
              max={today}
              onChange={(e) => onChange({ range, from: (e.target as HTMLInputElement).value })}
            />
          </Field>
          <Field label="To (UTC, inclusive)">
            <input
              type="date"
              value={query.get('to') ?? ''}
              max={today}
              onChange={(e) => onChange({ range, to: (e.target as HTMLInputElement).value })}
            />
          </Field>
        </>
      )}
    </>
  );
}

function SpendView({
  rows,
  group,
  bucket,
  incidents,
  team,
  span,
}: {
  rows: SpendRow[];
  group: string;
  bucket: string;
  incidents: Incident[];
  team: string;
  span: [number, number];
}) {
  const [hover, setHover] = useHover();
  const { keys, totals } = useMemo(() => summarise(rows), [rows]);
  const chart = useMemo(() => {
    const buckets = [...new Set(rows.map((r) => Date.parse(r.bucket)))].sort((a, b) => a - b);
    const at = new Map(buckets.map((b, i) => [b, i]));
    const currency = keys[0]?.currency ?? 'USD';
    const shown = keys.filter((k) => k.currency === currency).slice(0, MAX_SERIES);
    const index = new Map(shown.map((k, i) => [k.key, i]));
    const stacks: Stack[] = shown.map((k) => ({ label: keyLabel(k.key), values: buckets.map(() => 0) }));
    const other: Stack = { label: 'other', values: buckets.map(() => 0) };
    for (const r of rows) {
      if (r.cost.currency !== currency) continue;
      const i = index.get(r.key);
      (i === undefined ? other : stacks[i]).values[at.get(Date.parse(r.bucket))!] += Number(r.cost.amount);
    }
    if (other.values.some((v) => v > 0)) stacks.push(other);
    return { buckets, stacks, currency };
  }, [rows, keys]);
  const markers: Marker[] = useMemo(
    () =>
      incidents
        .map((i) => ({ at: Date.parse(i.opened_at), label: `${i.agent_id ?? i.team}` }))
        .sort((a, b) => a.at - b.at),
    [incidents],
  );
  const sortedIncidents = useMemo(
    () => [...incidents].sort((a, b) => Date.parse(a.opened_at) - Date.parse(b.opened_at)),
    [incidents],
  );

  if (rows.length === 0) return <EmptyState />;
  const format = (v: number) => formatAmount(v, chart.currency);
  const withTime = bucket === 'hour';
  const groupLabel = GROUPS.find((g) => g.value === group)?.label ?? group;

  return (
    <>
      <div class="totals" aria-label="Totals over the range">
        {totals.map((t) => (
          <dl key={t.currency}>
            <div>
              <dt>Total spend</dt>
              <dd data-testid="total-spend">{formatNanos(t.cost, t.currency)}</dd>
            </div>
            <div>
              <dt>Runs</dt>
              <dd>{formatCount(t.runs)}</dd>
            </div>
            <div>
              <dt>Cost per run</dt>
              <dd>{t.runs ? formatNanos(t.cost / BigInt(t.runs), t.currency) : '—'}</dd>
            </div>
            <div>
              <dt>Cost per successful run</dt>
              <dd>{t.ok ? formatNanos(t.cost / BigInt(t.ok), t.currency) : '—'}</dd>
            </div>
          </dl>
        ))}
      </div>
      {totals.length > 1 && (
        <p class="help">
          Runs are priced in more than one currency; the chart shows {chart.currency}. Pick a reporting
          currency to see them together.
        </p>
      )}
      <figure class="figure">
        <figcaption>
          Spend per {bucket} in {chart.currency}, stacked by {groupLabel.toLowerCase()}
          {markers.length > 0 && ', incidents marked ▼ with their number'}
        </figcaption>
        <StackedBars
          xs={chart.buckets}
          step={STEP[bucket] ?? 86_400_000}
          span={span}
          stacks={chart.stacks}
          markers={markers}
          format={format}
          label={`Stacked bar chart of spend per ${bucket} by ${groupLabel.toLowerCase()}; the same figures are in the table below.`}
          onHover={setHover}
        />
        <p class="readout" aria-live="polite">
          {hover !== null && chart.buckets[hover] !== undefined
            ? `${formatTime(chart.buckets[hover], withTime)}: ` +
              chart.stacks
                .filter((s) => s.values[hover] > 0)
                .map((s) => `${s.label} ${format(s.values[hover])}`)
                .join(' · ')
            : 'Point at a bar to read its figures.'}
        </p>
        <Legend items={chart.stacks.map((s, i) => ({ label: s.label, index: i }))} />
      </figure>
      {sortedIncidents.length > 0 && (
        <>
          <h2>Incidents in this range</h2>
          <ol class="markers">
            {sortedIncidents.map((i) => (
              <li key={i.incident_id}>
                <Severity level={i.severity} /> {formatTime(i.opened_at)} —{' '}
                {i.agent_id ? (
                  <a href={href(['agent', i.agent_id], { team: i.team })}>{i.agent_id}</a>
                ) : (
                  i.team
                )}{' '}
                ({i.team}): {i.signals.map((s) => s.rule).join(', ')} — {i.state}
              </li>
            ))}
          </ol>
        </>
      )}
      <h2>By {groupLabel.toLowerCase()}</h2>
      <TableBox label={`Spend by ${groupLabel.toLowerCase()}`}>
        <table>
          <thead>
            <tr>
              <th scope="col">{groupLabel}</th>
              <th scope="col" class="num">
                Cost
              </th>
              <th scope="col" class="num">
                Runs
              </th>
              <th scope="col" class="num">
                Successful runs
              </th>
              <th scope="col" class="num">
                Cost per run
              </th>
              <th scope="col" class="num">
                Cost per successful run
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={`${k.key}/${k.currency}`}>
                <th scope="row">
                  {group === 'agent' && k.key ? (
                    <a href={href(['agent', k.key], { team: team || null })}>{k.key}</a>
                  ) : (
                    keyLabel(k.key)
                  )}
                </th>
                <td class="num">{formatNanos(k.cost, k.currency)}</td>
                <td class="num">{formatCount(k.runs)}</td>
                <td class="num">{formatCount(k.ok)}</td>
                <td class="num">{k.runs ? formatNanos(k.cost / BigInt(k.runs), k.currency) : '—'}</td>
                <td class="num">{k.ok ? formatNanos(k.cost / BigInt(k.ok), k.currency) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableBox>
    </>
  );
}

/** No runs in the range: how to send the first one. */
export function EmptyState() {
  const origin = location.origin;
  const ingestion = origin.replace(/:(\d+)$/, (_m, p: string) => `:${Number(p) === 8080 ? 8081 : p}`);
  return (
    <div class="empty" data-testid="empty-state">
      <h2>No runs in this range yet</h2>
      <p>
        Send your first run to the ingestion service (<code>POST /v1/runs</code>, port 8081 locally) with a
        team API key, then reload:
      </p>
      <pre>
        <code>{`curl -s -XPOST ${ingestion}/v1/runs \\
  -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \\
  -d '[{"run_id":"run-1","agent_id":"support-triage","model":"gpt-4o",
        "input_tokens":2480,"output_tokens":514,"customer_id":"cus_8821",
        "started_at":"${new Date(Date.now() - 3000).toISOString()}",
        "finished_at":"${new Date().toISOString()}","status":"success"}]'`}</code>
      </pre>
      <p>
        Or use the SDK, OpenTelemetry GenAI spans (<code>POST /v1/traces</code>) or Avro straight onto Kafka —
        see <code>docs/producers.md</code>. Try a longer time range if you sent runs earlier.
      </p>
    </div>
  );
}
