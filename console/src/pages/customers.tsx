import { useMemo, useState } from 'preact/hooks';
import { api, type Money, type Whoami } from '../api';
import { formatCount, formatMoney, toNanos } from '../format';
import { href, navigate } from '../router';
import { CurrencyField, RangeFields, TeamField } from './spend';
import { Async, TableBox, rangeOf, useData } from '../ui';

interface Row {
  team: string;
  agent_id: string;
  customer_id: string | null;
  runs: number;
  cost: Money;
  cost_per_run: Money | null;
  flags: string[];
}
interface TeamRow {
  team: string;
  runs: number;
  cost: Money;
  cost_per_run: Money | null;
}
interface Answer {
  rows: Row[];
  teams: TeamRow[];
}

type Column = 'agent_id' | 'customer_id' | 'team' | 'runs' | 'cost' | 'cost_per_run' | 'flags';
const COLUMNS: { key: Column; label: string; numeric?: boolean }[] = [
  { key: 'agent_id', label: 'Agent' },
  { key: 'customer_id', label: 'Customer' },
  { key: 'team', label: 'Team' },
  { key: 'runs', label: 'Runs', numeric: true },
  { key: 'cost', label: 'Cost', numeric: true },
  { key: 'cost_per_run', label: 'Cost per run', numeric: true },
  { key: 'flags', label: 'Flags' },
];

const FLAG_TEXT: Record<string, string> = {
  high_cost_per_run: 'cost per run far above its team’s',
  unattributed: 'no customer_id',
};

function compare(a: Row, b: Row, column: Column): number {
  switch (column) {
    case 'runs':
      return a.runs - b.runs;
    case 'cost': {
      const d = toNanos(a.cost.amount) - toNanos(b.cost.amount);
      return d > 0n ? 1 : d < 0n ? -1 : 0;
    }
    case 'cost_per_run': {
      const d = toNanos(a.cost_per_run?.amount ?? '0') - toNanos(b.cost_per_run?.amount ?? '0');
      return d > 0n ? 1 : d < 0n ? -1 : 0;
    }
    case 'flags':
      return a.flags.length - b.flags.length;
    default:
      return (a[column] ?? '').localeCompare(b[column] ?? '');
  }
}

/** The brief's table: agent × customer with runs, cost and cost per run, flagged rows first to the eye. */
export function CustomersPage({ query, me }: { query: URLSearchParams; me: Whoami }) {
  const range = query.get('range') ?? '30d';
  const currency = query.get('currency') ?? '';
  const team = query.get('team') ?? '';
  const [from, to] = rangeOf(range, query.get('from'), query.get('to'));
  const params = {
    range,
    currency,
    team,
    from: range === 'custom' ? query.get('from') : null,
    to: range === 'custom' ? query.get('to') : null,
  };
  const set = (change: Record<string, string>) => navigate(['customers'], { ...params, ...change });
  const state = useData(
    () =>
      api<Answer>('/v1/spend/top-customers', {
        from: from.toISOString(),
        to: to.toISOString(),
        currency: currency || null,
        team: team || null,
        limit: 200,
      }),
    [from.toISOString(), to.toISOString(), currency, team],
  );
  return (
    <section>
      <h1>Top customers by agent</h1>
      <form class="controls" onSubmit={(e) => e.preventDefault()} aria-label="What to show">
        <RangeFields range={range} query={query} onChange={set} />
        <CurrencyField me={me} currency={currency} onChange={set} />
        <TeamField me={me} team={team} onChange={set} />
      </form>
      <Async state={state} what="the table">
        {(answer) => <CustomersTable answer={answer} />}
      </Async>
    </section>
  );
}

function CustomersTable({ answer }: { answer: Answer }) {
  const [sort, setSort] = useState<{ column: Column; descending: boolean }>({
    column: 'cost',
    descending: true,
  });
  const rows = useMemo(() => {
    const out = [...answer.rows].sort((a, b) => compare(a, b, sort.column));
    return sort.descending ? out.reverse() : out;
  }, [answer, sort]);
  if (answer.rows.length === 0)
    return (
      <p class="empty">
        No runs in this range. <a href={href(['spend'])}>The Spend page</a> says how to send the first one.
      </p>
    );
  const flagged = answer.rows.filter((r) => r.flags.length > 0).length;
  return (
    <>
      <p>
        {formatCount(answer.rows.length)} rows, {flagged} flagged (marked ⚑). Choose a column heading to sort.
      </p>
      <TableBox label="Top customers by agent">
        <table class="sortable" data-testid="top-customers">
          <thead>
            <tr>
              {COLUMNS.map((c) => {
                const active = sort.column === c.key;
                return (
                  <th
                    key={c.key}
                    scope="col"
                    class={c.numeric ? 'num' : undefined}
                    aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : undefined}
                  >
                    <button
                      type="button"
                      onClick={() =>
                        setSort({ column: c.key, descending: active ? !sort.descending : c.numeric === true })
                      }
                    >
                      {c.label}
                      <span aria-hidden="true">{active ? (sort.descending ? ' ▼' : ' ▲') : ' ↕'}</span>
                    </button>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr
                key={`${r.team}/${r.agent_id}/${r.customer_id}/${r.cost.currency}`}
                class={r.flags.length ? 'flagged' : ''}
              >
                <th scope="row">
                  {r.flags.length > 0 && (
                    <span class="flag" aria-hidden="true">
                      ⚑{' '}
                    </span>
                  )}
                  <a href={href(['agent', r.agent_id], { team: r.team })}>{r.agent_id}</a>
                </th>
                <td>{r.customer_id ?? <em>(unattributed)</em>}</td>
                <td>{r.team}</td>
                <td class="num">{formatCount(r.runs)}</td>
                <td class="num">{formatMoney(r.cost)}</td>
                <td class="num">{formatMoney(r.cost_per_run)}</td>
                <td>
                  {r.flags.length === 0
                    ? '—'
                    : r.flags.map((f) => (
                        <span key={f} class="badge flag-badge" title={FLAG_TEXT[f] ?? f}>
                          ⚑ {f.replace(/_/g, ' ')}
                        </span>
                      ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableBox>
      <h2>Team rollup</h2>
      <TableBox label="Spend by team">
        <table>
          <thead>
            <tr>
              <th scope="col">Team</th>
              <th scope="col" class="num">
                Runs
              </th>
              <th scope="col" class="num">
                Cost
              </th>
              <th scope="col" class="num">
                Cost per run
              </th>
            </tr>
          </thead>
          <tbody>
            {answer.teams.map((t) => (
              <tr key={`${t.team}/${t.cost.currency}`}>
                <th scope="row">{t.team}</th>
                <td class="num">{formatCount(t.runs)}</td>
                <td class="num">{formatMoney(t.cost)}</td>
                <td class="num">{formatMoney(t.cost_per_run)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableBox>
    </>
  );
}
