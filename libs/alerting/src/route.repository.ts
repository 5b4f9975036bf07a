import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Pool } from 'pg';
import { parse } from 'yaml';
import {
  ROUTE_LIMITS,
  destinationProblems,
  destinationUrl,
  maskDestination,
  normaliseDestination,
} from './routing';
import { SecretBox } from '@libs/secrets';
import { openDestination, sealDestination } from './destination-secrets';
import type { Destination, Route, RouteMatch } from './types';
import { DestinationAllowList, DestinationGuard, type Resolver } from './url-guard';

export class RouteValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** Checks a route body (API or YAML file) and returns it typed, or throws with every problem. */
export function parseRoute(input: unknown, path = 'route'): Omit<Route, 'id'> {
  const problems: string[] = [];
  const o = (input ?? {}) as Record<string, unknown>;
  if (
    o.team !== undefined &&
    o.team !== null &&
    (typeof o.team !== 'string' || o.team === '' || o.team.length > ROUTE_LIMITS.team)
  )
    problems.push(
      `${path}.team must be a team name (at most ${ROUTE_LIMITS.team} characters) or null (catch-all)`,
    );
  const m = (o.match ?? {}) as Record<string, unknown>;
  if (typeof m !== 'object' || Array.isArray(m)) problems.push(`${path}.match must be an object`);
  if (m.agent_id !== undefined && (typeof m.agent_id !== 'string' || m.agent_id.length > ROUTE_LIMITS.glob))
    problems.push(`${path}.match.agent_id must be a glob string of at most ${ROUTE_LIMITS.glob} characters`);
  for (const k of ['rule', 'severity'] as const) {
    const v = m[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      problems.push(`${path}.match.${k} must be a list of strings`);
    else if (v.length > ROUTE_LIMITS.listItems || v.some((x: string) => x.length > ROUTE_LIMITS.listItem))
      problems.push(
        `${path}.match.${k} must have at most ${ROUTE_LIMITS.listItems} entries of at most ${ROUTE_LIMITS.listItem} characters`,
      );
  }
  if (!Array.isArray(o.destinations) || o.destinations.length === 0)
    problems.push(`${path}.destinations must be a non-empty list`);
  else if (o.destinations.length > ROUTE_LIMITS.destinations)
    problems.push(
      `${path}.destinations has ${o.destinations.length} entries; a route may have at most ${ROUTE_LIMITS.destinations}`,
    );
  else
    o.destinations.forEach((d, i) => problems.push(...destinationProblems(d, `${path}.destinations[${i}]`)));
  if (problems.length) throw new RouteValidationError(problems);
  const match: RouteMatch = {};
  if (m.agent_id !== undefined) match.agent_id = m.agent_id as string;
  if (m.rule !== undefined) match.rule = m.rule as string[];
  if (m.severity !== undefined) match.severity = m.severity as string[];
  return {
    team: (o.team as string | null | undefined) ?? null,
    match,
    destinations: (o.destinations as Destination[]).map(normaliseDestination),
  };
}

/**
 * The problems of a route's destination URLs that resolve where a tenant may not send (private, loopback, metadata,
 * cluster-internal…), unless the allow-list admits them. A name that does not resolve now passes: the delivery
 * checks again before every send.
 */
export async function destinationAddressProblems(
  route: Pick<Route, 'destinations'>,
  guard: DestinationGuard,
  path = 'route',
): Promise<string[]> {
  const checks = route.destinations.map(async (d, i) => {
    const target = destinationUrl(d);
    if (!target) return [];
    const result = await guard.check(target.url);
    return result.status === 'refused'
      ? [`${path}.destinations[${i}].${target.field}: ${result.reason}`]
      : [];
  });
  return (await Promise.all(checks)).flat();
}

export interface RouteRepositoryOptions {
  /** ALERT_DESTINATION_ALLOWLIST as the process read it: internal destinations the operator admits. */
  allowList?: string | readonly string[] | DestinationAllowList;
  resolve?: Resolver;
  /** Seals the destinations' secrets at rest; SECRETS_KEY from the environment unless given. */
  secrets?: SecretBox;
  /** Told of a stored route whose secrets this process cannot open (sealed with a key it lacks); the route is left out. */
  onUnreadable?: (routeId: string, team: string | null, err: Error) => void;
}

/** A stable key for a destination (for incident ordering and outbox uniqueness), never the secret itself. */
export function destinationKey(d: Destination): string {
  return createHash('sha256').update(JSON.stringify(d)).digest('hex').slice(0, 24);
}

/** Why and since when the alert router no longer pages a destination (its webhook answered 410 Gone). */
export interface DestinationDisabled {
  at: string;
  reason: string;
}

/** A destination as the API shows it: secrets masked; `disabled` only when the alert router no longer pages it. */
export type DestinationView = Record<string, unknown> & { disabled?: DestinationDisabled };

/** A route as the API shows it. */
export interface RouteView {
  id: string;
  team: string | null;
  match: RouteMatch;
  destinations: DestinationView[];
}

/** At most this much of a reason is kept (it may quote a receiver's answer). */
const REASON_LIMIT = 500;

export class RouteRepository {
  /** `stored`: every route with all its destinations; `routing`: the same without the disabled destinations. */
  private cache: { stored: Route[]; routing: Route[]; created: Map<string, number>; until: number } | null =
    null;
  private readonly guard: DestinationGuard;
  private readonly secrets: SecretBox;
  private readonly onUnreadable: NonNullable<RouteRepositoryOptions['onUnreadable']>;

  /** Throws when `options.allowList` has an entry that is not a hostname, host:port or CIDR. */
  constructor(
    private readonly pool: Pool,
    private readonly routesFile?: string,
    options: RouteRepositoryOptions = {},
  ) {
    const allowList =
      options.allowList instanceof DestinationAllowList
        ? options.allowList
        : DestinationAllowList.parse(options.allowList);
    this.guard = new DestinationGuard(allowList, options.resolve);
    this.secrets = options.secrets ?? SecretBox.fromEnv();
    this.onUnreadable = options.onUnreadable ?? (() => undefined);
  }

  /** Throws RouteValidationError naming every problem, destinations that resolve to internal addresses included. */
  async create(input: unknown): Promise<Route> {
    const route = parseRoute(input);
    const problems = await destinationAddressProblems(route, this.guard);
    if (problems.length) throw new RouteValidationError(problems);
    const id = randomUUID();
    await this.pool.query(
      'insert into alert_routes (id, team, match, destinations) values ($1, $2, $3, $4)',
      [
        id,
        route.team,
        JSON.stringify(route.match),
        JSON.stringify(route.destinations.map((d) => sealDestination(this.secrets, d))),
      ],
    );
    this.cache = null;
    return { id, ...route };
  }

  /** The team of the route made through the api with this id (null: the catch-all), or undefined when there is none. */
  async apiRouteTeam(id: string): Promise<string | null | undefined> {
    const { rows } = await this.pool.query<{ team: string | null }>(
      "select team from alert_routes where id = $1 and source = 'api'",
      [id],
    );
    return rows.length === 0 ? undefined : rows[0].team;
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("delete from alert_routes where id = $1 and source = 'api'", [
      id,
    ]);
    this.cache = null;
    return (rowCount ?? 0) > 0;
  }

  /**
   * Stops paging a destination in every route holding it (a webhook that answered 410 Gone): routing leaves it out
   * within the cache's few seconds. Repeating it keeps the first `disabled_at` and takes the latest reason.
   */
  async disableDestination(destinationKey: string, reason: string): Promise<void> {
    await this.pool.query(
      `insert into alert_destination_status (destination_key, disabled_at, reason) values ($1, now(), $2)
       on conflict (destination_key) do update set reason = excluded.reason`,
      [destinationKey, reason.slice(0, REASON_LIMIT)],
    );
    this.cache = null;
  }

  /** Why a destination is disabled, or null when it is not (read now, not from the routing cache). */
  async disabledReason(destinationKey: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ reason: string }>(
      'select reason from alert_destination_status where destination_key = $1',
      [destinationKey],
    );
    return rows[0]?.reason ?? null;
  }

  /** Pages a disabled destination again; false when it was not disabled. */
  async enableDestination(destinationKey: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'delete from alert_destination_status where destination_key = $1',
      [destinationKey],
    );
    this.cache = null;
    return (rowCount ?? 0) > 0;
  }

  /**
   * The routes to route by, from the database and from the YAML file (ROUTES_FILE), cached for a few seconds, without
   * their disabled destinations. A route whose every destination is disabled stays, with none: it still matches what
   * it matched (the team's default and the catch-all are not paged in its place).
   */
  async all(): Promise<Route[]> {
    return (await this.load()).routing;
  }

  /** A route with all its destinations, disabled ones included (their index is the one the API shows), or null. */
  async find(id: string): Promise<Route | null> {
    return (await this.load()).stored.find((r) => r.id === id) ?? null;
  }

  /**
   * For the API: secrets masked, each destination's disabled status. In the order of (created, id) — routes from
   * ROUTES_FILE first — at most `page.limit` after the position `page.after` ([created ms, id]), and whether more follow.
   */
  async list(team: string | null): Promise<RouteView[]> {
    return (await this.listPage(team, { limit: Infinity, after: null })).routes;
  }

  async listPage(
    team: string | null,
    page: { limit: number; after: readonly [number, string] | null },
  ): Promise<{ routes: RouteView[]; last: [number, string] | null; more: boolean }> {
    const { stored, created } = await this.load();
    const key = (r: Route): [number, string] => [created.get(r.id) ?? 0, r.id];
    const after = page.after;
    const matching = stored
      .filter((r) => team === null || r.team === team || r.team === null)
      .map((r) => ({ r, k: key(r) }))
      .sort((a, b) => a.k[0] - b.k[0] || (a.k[1] < b.k[1] ? -1 : a.k[1] > b.k[1] ? 1 : 0))
      .filter(({ k }) => after === null || k[0] > after[0] || (k[0] === after[0] && k[1] > after[1]));
    const chosen = matching.slice(0, page.limit);
    return {
      routes: await this.views(chosen.map(({ r }) => r)),
      last: chosen.length ? chosen[chosen.length - 1].k : null,
      more: matching.length > chosen.length,
    };
  }

  /** Routes as the API shows them: secrets masked, and whether each destination is disabled (read now, not cached). */
  async views(routes: readonly Route[]): Promise<RouteView[]> {
    const keys = routes.map((r) => r.destinations.map(destinationKey));
    const distinct = [...new Set(keys.flat())];
    const disabled = new Map<string, DestinationDisabled>();
    if (distinct.length > 0) {
      const { rows } = await this.pool.query<{ destination_key: string; disabled_at: Date; reason: string }>(
        'select destination_key, disabled_at, reason from alert_destination_status where destination_key = any($1)',
        [distinct],
      );
      for (const r of rows)
        disabled.set(r.destination_key, { at: new Date(r.disabled_at).toISOString(), reason: r.reason });
    }
    return routes.map((r, i) => ({
      id: r.id,
      team: r.team,
      match: r.match,
      destinations: r.destinations.map((d, j): DestinationView => {
        const off = disabled.get(keys[i][j]);
        return off ? { ...maskDestination(d), disabled: off } : maskDestination(d);
      }),
    }));
  }

  private async load(): Promise<{ stored: Route[]; routing: Route[]; created: Map<string, number> }> {
    if (this.cache && this.cache.until > Date.now()) return this.cache;
    const { rows } = await this.pool.query<{
      id: string;
      team: string | null;
      match: RouteMatch;
      destinations: Destination[];
      created_at: Date;
    }>('select id, team, match, destinations, created_at from alert_routes order by created_at');
    const created = new Map(rows.map((r) => [r.id, new Date(r.created_at).getTime()]));
    // One route sealed with a key this process lacks costs that route, not every team's pages.
    const fromDb = rows.flatMap((r) => {
      try {
        const { id, team, match, destinations } = r;
        return [{ id, team, match, destinations: destinations.map((d) => openDestination(this.secrets, d)) }];
      } catch (err) {
        this.onUnreadable(r.id, r.team, err as Error);
        return [];
      }
    });
    const stored: Route[] = [...fromDb, ...this.fromFile()];
    const { rows: off } = await this.pool.query<{ destination_key: string }>(
      'select destination_key from alert_destination_status',
    );
    const disabled = new Set(off.map((r) => r.destination_key));
    const routing =
      disabled.size === 0
        ? stored
        : stored.map((r) => {
            const kept = r.destinations.filter((d) => !disabled.has(destinationKey(d)));
            return kept.length === r.destinations.length ? r : { ...r, destinations: kept };
          });
    this.cache = { stored, routing, created, until: Date.now() + 5000 };
    return this.cache;
  }

  private fromFile(): Route[] {
    if (!this.routesFile) return [];
    const doc = parse(readFileSync(this.routesFile, 'utf8')) as { routes?: unknown[] } | null;
    return (doc?.routes ?? []).map((r, i) => ({ id: `file:${i}`, ...parseRoute(r, `routes[${i}]`) }));
  }
}
