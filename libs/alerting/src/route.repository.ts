import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Pool } from 'pg';
import { parse } from 'yaml';
import { destinationProblems, maskDestination } from './routing';
import type { Destination, Route, RouteMatch } from './types';

export class RouteValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** Checks a route body (API or YAML file) and returns it typed, or throws with every problem. */
export function parseRoute(input: unknown, path = 'route'): Omit<Route, 'id'> {
  const problems: string[] = [];
  const o = (input ?? {}) as Record<string, unknown>;
  if (o.team !== undefined && o.team !== null && (typeof o.team !== 'string' || o.team === ''))
    problems.push(`${path}.team must be a team name or null (catch-all)`);
  const m = (o.match ?? {}) as Record<string, unknown>;
  if (typeof m !== 'object' || Array.isArray(m)) problems.push(`${path}.match must be an object`);
  if (m.agent_id !== undefined && typeof m.agent_id !== 'string')
    problems.push(`${path}.match.agent_id must be a glob string`);
  for (const k of ['rule', 'severity'] as const) {
    if (
      m[k] !== undefined &&
      (!Array.isArray(m[k]) || !(m[k] as unknown[]).every((x) => typeof x === 'string'))
    )
      problems.push(`${path}.match.${k} must be a list of strings`);
  }
  if (!Array.isArray(o.destinations) || o.destinations.length === 0)
    problems.push(`${path}.destinations must be a non-empty list`);
  else
    o.destinations.forEach((d, i) => problems.push(...destinationProblems(d, `${path}.destinations[${i}]`)));
  if (problems.length) throw new RouteValidationError(problems);
  return {
    team: (o.team as string | null | undefined) ?? null,
    match: m as RouteMatch,
    destinations: o.destinations as Destination[],
  };
}

/** A stable key for a destination (for re-notify suppression and outbox uniqueness), never the secret itself. */
export function destinationKey(d: Destination): string {
  return createHash('sha256').update(JSON.stringify(d)).digest('hex').slice(0, 24);
}

export class RouteRepository {
  private cache: { routes: Route[]; until: number } | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly routesFile?: string,
  ) {}

  async create(input: unknown): Promise<Route> {
    const route = parseRoute(input);
    const id = randomUUID();
    await this.pool.query(
      'insert into alert_routes (id, team, match, destinations) values ($1, $2, $3, $4)',
      [id, route.team, JSON.stringify(route.match), JSON.stringify(route.destinations)],
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
    const routes: Route[] = [...rows, ...this.fromFile()];
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
