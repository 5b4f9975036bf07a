import { createHash, createHmac } from 'node:crypto';
import type { DeliveryAction } from './incident';
import type { Anomaly, Destination } from './types';

export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface MessageContext {
  /** Where people open the incident (PUBLIC_URL + /incidents/<id>), or null when none is configured: no link. */
  link: string | null;
  /** Opaque and stable per delivery (no tenant text, header-safe): receivers dedupe on it. */
  deliveryId: string;
  /** Opaque and stable per incident: PagerDuty's dedup_key, the email thread. */
  incidentKey: string;
  /** What this message does to the incident at the destination. */
  action: DeliveryAction;
  /** For a resolve: every record of the incident, in order (its signals, listed). Empty otherwise. */
  signals: readonly Anomaly[];
  now: number;
  pagerDutyUrl: string;
}

const money = (nanos: number | null | undefined, currency: string | null): string =>
  nanos === null || nanos === undefined
    ? '–'
    : `${(nanos / 1e9).toFixed(nanos >= 1e9 ? 2 : 4)} ${currency ?? 'USD'}`;

const SPEND_RULES = new Set(['spend_zscore', 'budget', 'unattributed_spend']);

/** The facts an on-call engineer needs at a glance, shared by every destination. */
export function facts(
  a: Anomaly,
  ctx: MessageContext,
): { title: string; lines: [string, string][]; link: string } {
  const resolved = a.state === 'resolved';
  const title = `${resolved ? 'RESOLVED' : a.severity.toUpperCase()}: ${a.agent_id ?? a.team} — ${a.rule.replace(/_/g, ' ')}`;
  const lines: [string, string][] = [
    ['Agent', a.agent_id ?? '(team-wide)'],
    ['Team', a.team],
    ['Rule', a.rule],
  ];
  const spendish = SPEND_RULES.has(a.rule) || a.rule.includes('spend');
  lines.push([
    spendish ? 'Spend' : 'Observed',
    spendish ? money(a.observed, a.currency) : String(Math.round(a.observed * 1000) / 1000),
  ]);
  if (a.baseline_mean !== null) {
    lines.push([
      'Baseline',
      `${spendish ? money(a.baseline_mean, a.currency) : a.baseline_mean.toFixed(3)} ± ${spendish ? money(a.baseline_stddev, a.currency) : (a.baseline_stddev ?? 0).toFixed(3)}${a.zscore !== null ? ` (z = ${a.zscore.toFixed(1)})` : ''}`,
    ]);
  }
  if (a.cost_per_run_before_nanos !== null || a.cost_per_run_now_nanos !== null) {
    lines.push([
      'Cost per run',
      `${money(a.cost_per_run_before_nanos, a.currency)} → ${money(a.cost_per_run_now_nanos, a.currency)}`,
    ]);
  }
  if (a.top_customers.length)
    lines.push([
      'Top customers',
      a.top_customers
        .slice(0, 3)
        .map((c) => `${c.name} ${money(c.spend_nanos, a.currency)}`)
        .join(', '),
    ]);
  if (a.top_features.length)
    lines.push([
      'Top features',
      a.top_features
        .slice(0, 3)
        .map((c) => `${c.name} ${money(c.spend_nanos, a.currency)}`)
        .join(', '),
    ]);
  lines.push(['Started', new Date(a.started_at).toISOString()]);
  const link = ctx.link ?? '';
  return { title, lines, link };
}

/** Standard Webhooks signature: v1,base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)), key = base64 after whsec_. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** PagerDuty Events API v2 refuses a dedup_key longer than this. */
export const PAGERDUTY_DEDUP_KEY_MAX = 255;

/**
 * The dedup_key PagerDuty gets for a dedupe key: itself when short enough, else a prefix and the SHA-256 of the whole
 * key, so the trigger and the resolve of one incident still meet and two long keys never collide.
 */
export function pagerDutyDedupKey(key: string): string {
  if (key.length <= PAGERDUTY_DEDUP_KEY_MAX) return key;
  const hash = createHash('sha256').update(key).digest('hex');
  let prefix = key.slice(0, PAGERDUTY_DEDUP_KEY_MAX - hash.length - 1);
  if (/[\uD800-\uDBFF]$/.test(prefix)) prefix = prefix.slice(0, -1);
  return `${prefix}~${hash}`;
}

const SLACK_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * A tenant string made inert in Slack mrkdwn: &, < and > as the entities Slack documents (so no <!channel>, <@U…>,
 * <url|text>), and *, _, ~ and ` fenced with zero-width spaces, since Slack has no escape for them and a marker must
 * touch a word boundary to format.
 */
export function escapeSlackMrkdwn(s: string): string {
  return s.replace(/[&<>]/g, (c) => SLACK_ENTITIES[c]).replace(/[*_~`]/g, (c) => `\u200B${c}\u200B`);
}

/**
 * A tenant string made inert in Teams (Adaptive Card) markdown: the characters that open emphasis, code, links and
 * headings backslash-escaped everywhere, list markers (`-`, `+`, `1.`) at the start of a line.
 */
export function escapeTeamsMarkdown(s: string): string {
  return s
    .replace(/[\\`*_~[\]()<>#|]/g, '\\$&')
    .replace(/^(\s*)([-+])/gm, '$1\\$2')
    .replace(/^(\s*\d+)\./gm, '$1\\.');
}

const PD_SEVERITY: Record<string, string> = {
  critical: 'critical',
  error: 'error',
  warning: 'warning',
  info: 'info',
};

/** The HTTP request each vendor documents, for one anomaly. */
export function buildRequest(
  d: Exclude<Destination, { type: 'email' }>,
  a: Anomaly,
  ctx: MessageContext,
): OutgoingRequest {
  const f = facts(a, ctx);
  const json = { 'content-type': 'application/json' };
  switch (d.type) {
    case 'pagerduty': {
      const body = JSON.stringify({
        routing_key: d.routing_key,
        event_action: a.state === 'resolved' ? 'resolve' : 'trigger',
        dedup_key: pagerDutyDedupKey(ctx.incidentKey),
        ...(a.state === 'resolved'
          ? {}
          : {
              payload: {
                summary: `${f.title}: ${a.summary}`.slice(0, 1024),
                source: `burnrate/${a.team}/${a.agent_id ?? 'team'}`,
                severity: PD_SEVERITY[a.severity] ?? 'warning',
                timestamp: new Date(a.detected_at).toISOString(),
                component: a.agent_id ?? undefined,
                group: a.team,
                class: a.rule,
                custom_details: Object.fromEntries(f.lines),
              },
              links: [{ href: f.link, text: 'burnrate: this anomaly' }],
            }),
      });
      return { url: ctx.pagerDutyUrl, headers: json, body };
    }
    case 'slack': {
      // Tenant strings (agent, team, customers, features, the summary) go as plain_text, which Slack never parses;
      // the fallback text and the fields' values are mrkdwn, so they are escaped and not auto-linked (verbatim).
      const body = JSON.stringify({
        text: escapeSlackMrkdwn(`${f.title} — ${a.summary}`),
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: f.title.slice(0, 150) } },
          { type: 'section', text: { type: 'plain_text', text: a.summary.slice(0, 3000) } },
          {
            type: 'section',
            fields: f.lines.slice(0, 10).map(([k, v]) => ({
              type: 'mrkdwn',
              text: `*${k}*\n${escapeSlackMrkdwn(v.slice(0, 1500))}`,
              verbatim: true,
            })),
          },
          {
            type: 'actions',
            elements: [
              { type: 'button', text: { type: 'plain_text', text: 'Open in burnrate' }, url: f.link },
            ],
          },
        ],
      });
      return { url: d.webhook_url, headers: json, body };
    }
    case 'teams': {
      const md = escapeTeamsMarkdown;
      const body = JSON.stringify({
        type: 'message',
        attachments: [
          {
            contentType: 'application/vnd.microsoft.card.adaptive',
            contentUrl: null,
            content: {
              $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
              type: 'AdaptiveCard',
              version: '1.4',
              body: [
                {
                  type: 'TextBlock',
                  size: 'Medium',
                  weight: 'Bolder',
                  text: md(f.title),
                  wrap: true,
                  color: a.state === 'resolved' ? 'Good' : 'Attention',
                },
                { type: 'TextBlock', text: md(a.summary), wrap: true },
                {
                  type: 'FactSet',
                  facts: f.lines.map(([title, value]) => ({ title: md(title), value: md(value) })),
                },
              ],
              actions: [{ type: 'Action.OpenUrl', title: 'Open in burnrate', url: f.link }],
            },
          },
        ],
      });
      return { url: d.webhook_url, headers: json, body };
    }
    case 'webhook': {
      const body = JSON.stringify({
        type: `anomaly.${a.state}`,
        timestamp: new Date(ctx.now).toISOString(),
        data: a,
      });
      const ts = Math.floor(ctx.now / 1000);
      return {
        url: d.url,
        headers: {
          ...json,
          'webhook-id': ctx.deliveryId,
          'webhook-timestamp': String(ts),
          'webhook-signature': signWebhook(d.secret, ctx.deliveryId, ts, body),
        },
        body,
      };
    }
  }
}

export function emailContent(
  a: Anomaly,
  ctx: MessageContext,
): { subject: string; text: string; html: string } {
  const f = facts(a, ctx);
  const esc = (s: string): string =>
    s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return {
    subject: `[burnrate] ${f.title}`,
    text: `${a.summary}\n\n${f.lines.map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${f.link}\n`,
    html: `<h2>${esc(f.title)}</h2><p>${esc(a.summary)}</p><table>${f.lines.map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table><p><a href="${esc(f.link)}">Open in burnrate</a></p>`,
  };
}
