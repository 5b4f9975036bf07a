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

/** A stable key for a destination (for re-notify suppression and outbox uniqueness), never the secret itself. */
export function destinationKey(d: Destination): string {
  return createHash('sha256').update(JSON.stringify(d)).digest('hex').slice(0, 24);
}

export class RouteRepository {
  private cache: { routes: Route[]; until: number } | null = null;
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

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("delete from alert_routes where id = $1 and source = 'api'", [
      id,
    ]);
    this.cache = null;
    return (rowCount ?? 0) > 0;
  }

  /** Routes from the database and from the YAML file (ROUTES_FILE), cached for a few seconds. */
  async all(): Promise<Route[]> {
    if (this.cache && this.cache.until > Date.now()) return this.cache.routes;
    const { rows } = await this.pool.query<{
      id: string;
      team: string | null;
      match: RouteMatch;
      destinations: Destination[];
    }>('select id, team, match, destinations from alert_routes order by created_at');
    // One route sealed with a key this process lacks costs that route, not every team's pages.
    const stored = rows.flatMap((r) => {
      try {
        return [{ ...r, destinations: r.destinations.map((d) => openDestination(this.secrets, d)) }];
      } catch (err) {
        this.onUnreadable(r.id, r.team, err as Error);
        return [];
      }
    });
    const routes: Route[] = [...stored, ...this.fromFile()];
    this.cache = { routes, until: Date.now() + 5000 };
    return routes;
  }

  /** For the API: secrets masked. */
  async list(team: string | null): Promise<Record<string, unknown>[]> {
    return (await this.all())
      .filter((r) => team === null || r.team === team || r.team === null)
      .map((r) => ({
        id: r.id,
        team: r.team,
        match: r.match,
        destinations: r.destinations.map(maskDestination),
      }));
  }

  private fromFile(): Route[] {
    if (!this.routesFile) return [];
    const doc = parse(readFileSync(this.routesFile, 'utf8')) as { routes?: unknown[] } | null;
    return (doc?.routes ?? []).map((r, i) => ({ id: `file:${i}`, ...parseRoute(r, `routes[${i}]`) }));
  }
}
