import type { Anomaly, Destination, Route } from './types';

function glob(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(value);
}

/**
 * The routes an anomaly goes to: the team's routes whose match fits (agent glob, rule, severity); when none of the
 * team's routes fits, its default (a route with an empty match), else the catch-all routes (team null).
 */
export function routesFor(anomaly: Anomaly, routes: readonly Route[]): Route[] {
  const fits = (r: Route): boolean =>
    (!r.match.agent_id || glob(r.match.agent_id, anomaly.agent_id ?? '')) &&
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
  if (!d || typeof d !== 'object') return [`${path} must be an object`];
  const o = d as Record<string, unknown>;
  const url = (k: string): string[] => {
    if (typeof o[k] !== 'string') return [`${path}.${k} is required`];
    try {
      const u = new URL(o[k] as string);
      return u.protocol === 'https:' || u.protocol === 'http:' ? [] : [`${path}.${k} must be an http(s) URL`];
    } catch {
      return [`${path}.${k} must be a URL`];
    }
  };
  switch (o.type) {
    case 'webhook':
      return [
        ...url('url'),
        ...(typeof o.secret === 'string' && /^whsec_[A-Za-z0-9+/=]{16,}$/.test(o.secret)
          ? []
          : [`${path}.secret must be "whsec_" followed by a base64 key`]),
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
        o.to.every((t) => typeof t === 'string' && /^[^@\s]+@[^@\s]+$/.test(t))
        ? []
        : [`${path}.to must be a list of email addresses`];
    default:
      return [`${path}.type must be one of webhook, slack, pagerduty, teams, email`];
  }
}
