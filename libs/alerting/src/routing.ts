import type { Anomaly, Destination, Route } from './types';

/** Bounds on what a tenant can put in a route: a route is read on every anomaly and a glob matched per route. */
export const ROUTE_LIMITS = {
  destinations: 10,
  glob: 256,
  team: 128,
  listItems: 20,
  listItem: 64,
  url: 2048,
  secret: 512,
  emailRecipients: 20,
  email: 254,
} as const;

/**
 * `*` matches any run of characters, everything else itself. Two pointers and one remembered star: no regular
 * expression, no backtracking beyond the last star, so at most |pattern| x |value| steps.
 */
export function globMatch(pattern: string, value: string): boolean {
  let p = 0;
  let v = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = v;
    } else if (p < pattern.length && pattern[p] === value[v]) {
      p++;
      v++;
    } else if (star >= 0) {
      p = star + 1;
      v = ++resume;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * The routes an anomaly goes to: the team's routes whose match fits (agent glob, rule, severity); when none of the
 * team's routes fits, its default (a route with an empty match), else the catch-all routes (team null).
 */
export function routesFor(anomaly: Anomaly, routes: readonly Route[]): Route[] {
  const fits = (r: Route): boolean =>
    (!r.match.agent_id || globMatch(r.match.agent_id, anomaly.agent_id ?? '')) &&
    (!r.match.rule?.length || r.match.rule.includes(anomaly.rule)) &&
    (!r.match.severity?.length || r.match.severity.includes(anomaly.severity));
  const isDefault = (r: Route): boolean =>
    !r.match.agent_id && !r.match.rule?.length && !r.match.severity?.length;
  const team = routes.filter((r) => r.team === anomaly.team);
  const specific = team.filter((r) => !isDefault(r) && fits(r));
  if (specific.length > 0) return specific;
  const defaults = team.filter(isDefault);
  if (defaults.length > 0) return defaults;
  return routes.filter((r) => r.team === null && fits(r));
}

/** A destination as shown by the API or written in a log: secrets masked. */
export function maskDestination(d: Destination): Record<string, unknown> {
  const tail = (s: string): string => (s.length <= 4 ? '****' : `****${s.slice(-4)}`);
  switch (d.type) {
    case 'webhook':
      return { type: d.type, url: maskUrl(d.url), secret: tail(d.secret) };
    case 'slack':
    case 'teams':
      return { type: d.type, webhook_url: maskUrl(d.webhook_url) };
    case 'pagerduty':
      return { type: d.type, routing_key: tail(d.routing_key) };
    case 'email':
      return { type: d.type, to: d.to };
  }
}

function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/****`;
  } catch {
    return '****';
  }
}

/** Validates a destination from an API body or a routes file; returns the problems found. */
export function destinationProblems(d: unknown, path: string): string[] {
  if (!d || typeof d !== 'object' || Array.isArray(d)) return [`${path} must be an object`];
  const o = d as Record<string, unknown>;
  const url = (k: string): string[] => {
    const v = o[k];
    if (typeof v !== 'string') return [`${path}.${k} is required`];
    if (v.length > ROUTE_LIMITS.url) return [`${path}.${k} must be at most ${ROUTE_LIMITS.url} characters`];
    try {
      const u = new URL(v);
      return u.protocol === 'https:' || u.protocol === 'http:' ? [] : [`${path}.${k} must be an http(s) URL`];
    } catch {
      return [`${path}.${k} must be a URL`];
    }
  };
  switch (o.type) {
    case 'webhook':
      return [
        ...url('url'),
        ...(typeof o.secret === 'string' &&
        o.secret.length <= ROUTE_LIMITS.secret &&
        /^whsec_[A-Za-z0-9+/=]{16,}$/.test(o.secret)
          ? []
          : [
              `${path}.secret must be "whsec_" followed by a base64 key (at most ${ROUTE_LIMITS.secret} characters)`,
            ]),
      ];
    case 'slack':
    case 'teams':
      return url('webhook_url');
    case 'pagerduty':
      return typeof o.routing_key === 'string' && /^[A-Za-z0-9]{32}$/.test(o.routing_key)
        ? []
        : [`${path}.routing_key must be a 32-character PagerDuty integration key`];
    case 'email':
      return Array.isArray(o.to) &&
        o.to.length > 0 &&
        o.to.length <= ROUTE_LIMITS.emailRecipients &&
        o.to.every(
          (t) => typeof t === 'string' && t.length <= ROUTE_LIMITS.email && /^[^@\s]+@[^@\s]+$/.test(t),
        )
        ? []
        : [`${path}.to must be a list of 1 to ${ROUTE_LIMITS.emailRecipients} email addresses`];
    default:
      return [`${path}.type must be one of webhook, slack, pagerduty, teams, email`];
  }
}

/** A checked destination with only its own fields (a body's extra keys are not stored). */
export function normaliseDestination(d: Destination): Destination {
  switch (d.type) {
    case 'webhook':
      return { type: d.type, url: d.url, secret: d.secret };
    case 'slack':
    case 'teams':
      return { type: d.type, webhook_url: d.webhook_url };
    case 'pagerduty':
      return { type: d.type, routing_key: d.routing_key };
    case 'email':
      return { type: d.type, to: [...d.to] };
  }
}

/** The tenant-provided URL a destination connects to (PagerDuty's and SMTP's endpoints are the operator's). */
export function destinationUrl(d: Destination): { field: string; url: string } | null {
  switch (d.type) {
    case 'webhook':
      return { field: 'url', url: d.url };
    case 'slack':
    case 'teams':
      return { field: 'webhook_url', url: d.webhook_url };
    default:
      return null;
  }
}
