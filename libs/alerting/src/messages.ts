import { createHmac } from 'node:crypto';
import type { Anomaly, Destination } from './types';

export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface MessageContext {
  /** Where the api shows the anomaly (PUBLIC_API_URL). */
  apiUrl: string;
  /** A stable id per delivery: receivers dedupe on it. */
  deliveryId: string;
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
  const link = `${ctx.apiUrl.replace(/\/$/, '')}/v1/anomalies?team=${encodeURIComponent(a.team)}${a.agent_id ? `&agent_id=${encodeURIComponent(a.agent_id)}` : ''}&rule=${encodeURIComponent(a.rule)}`;
  return { title, lines, link };
}

/** Standard Webhooks signature: v1,base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)), key = base64 after whsec_. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
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
        dedup_key: a.dedupe_key,
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
      const body = JSON.stringify({
        text: `${f.title} — ${a.summary}`,
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: f.title.slice(0, 150) } },
          { type: 'section', text: { type: 'mrkdwn', text: a.summary.slice(0, 3000) } },
          {
            type: 'section',
            fields: f.lines
              .slice(0, 10)
              .map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${v}`.slice(0, 2000) })),
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
                  text: f.title,
                  wrap: true,
                  color: a.state === 'resolved' ? 'Good' : 'Attention',
                },
                { type: 'TextBlock', text: a.summary, wrap: true },
                { type: 'FactSet', facts: f.lines.map(([title, value]) => ({ title, value })) },
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
