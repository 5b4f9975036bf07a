import { createHash, createHmac } from 'node:crypto';
import type { AnomalyState, Severity } from '@libs/contracts';
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

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Length in code points (what the vendors' "characters" are), not UTF-16 code units. */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * `s` in at most `max` code points: as it is when it fits, else cut on a grapheme boundary (never inside a surrogate
 * pair, an emoji sequence or a letter with its marks) and ended with `…`, which counts in `max`.
 */
export function truncate(s: string, max: number): string {
  if (max <= 0) return '';
  if (s.length <= max || codePoints(s) <= max) return s;
  let out = '';
  let n = 0;
  for (const { segment } of graphemes.segment(s)) {
    const len = codePoints(segment);
    if (n + len > max - 1) break;
    out += segment;
    n += len;
  }
  // one cluster longer than the whole budget (a base letter under hundreds of marks): cut it on code points
  if (!out)
    out = Array.from(s)
      .slice(0, max - 1)
      .join('');
  return `${out}…`;
}

/**
 * `s` escaped code point by code point by `escape` (one that never looks past a character, as escapeSlackMrkdwn), cut
 * so that the escaped text fits in `max` code points, `…` included: no entity or fence is ever cut in half.
 */
function truncateEscaped(s: string, max: number, escape: (c: string) => string): string {
  const whole = escape(s);
  if (codePoints(whole) <= max) return whole;
  let out = '';
  let n = 0;
  for (const { segment } of graphemes.segment(s)) {
    const e = escape(segment);
    const len = codePoints(e);
    if (n + len > max - 1) break;
    out += e;
    n += len;
  }
  return `${out}…`;
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2, critical: 3 };

/** One signal of an incident as its resolve lists it: its last state, the highest severity it reached. */
export interface SignalDigest {
  dedupe_key: string;
  rule: string;
  severity: Severity;
  state: AnomalyState;
  summary: string;
}

/**
 * The signals of the incident a resolve closes, in the order they opened: ctx.signals (and the resolving record, if the
 * caller left it out) distinct by dedupe_key. Empty for a trigger or an update.
 */
export function incidentSignals(a: Anomaly, ctx: MessageContext): SignalDigest[] {
  if (ctx.action !== 'resolve') return [];
  const records = ctx.signals.some((r) => r.anomaly_id === a.anomaly_id) ? ctx.signals : [...ctx.signals, a];
  const byKey = new Map<string, SignalDigest>();
  for (const r of records) {
    const seen = byKey.get(r.dedupe_key);
    const highest =
      seen && (SEVERITY_RANK[seen.severity] ?? 0) > (SEVERITY_RANK[r.severity] ?? 0)
        ? seen.severity
        : r.severity;
    byKey.set(r.dedupe_key, {
      dedupe_key: r.dedupe_key,
      rule: r.rule,
      severity: highest,
      state: r.state,
      summary: r.summary,
    });
  }
  return [...byKey.values()];
}

/** What a message says about its incident, shared by every destination. */
export interface Facts {
  /** Plain text, unescaped (tenant text inside): each destination escapes and cuts it to its limit. */
  title: string;
  lines: [string, string][];
  /** The incident page, or null: then no link, button or action at all. */
  link: string | null;
  /** For a resolve, the digest of the incident: every signal it had. Empty otherwise. */
  signals: SignalDigest[];
}

/** The agent (or team) a title names, cut so a hostile name cannot crowd out the rest. */
const WHO_MAX = 100;

/** The facts an on-call engineer needs at a glance, shared by every destination. */
export function facts(a: Anomaly, ctx: MessageContext): Facts {
  const who = truncate(a.agent_id ?? a.team, WHO_MAX);
  const rule = a.rule.replace(/_/g, ' ');
  const severity = a.severity.toUpperCase();
  const signals = incidentSignals(a, ctx);
  let title: string;
  if (ctx.action === 'resolve')
    title = `RESOLVED: ${who} — ${signals.length} signal${signals.length === 1 ? '' : 's'}`;
  else if (ctx.action === 'update' && a.state === 'escalated')
    title = `ESCALATED to ${severity}: ${who} — ${rule}`;
  else if (ctx.action === 'update' && a.state === 'resolved') title = `CLEARED: ${who} — ${rule}`;
  else title = `${severity}: ${who} — ${rule}`;
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
  lines.push(['Incident', ctx.incidentKey]);
  if (a.incident_signals !== null && a.incident_signals !== undefined)
    lines.push(['Signals open', String(a.incident_signals)]);
  return { title, lines, link: ctx.link, signals };
}

/** One line of the digest, plain text. */
function signalLine(s: SignalDigest, summaryMax: number): string {
  return `${s.severity.toUpperCase()} · ${s.rule.replace(/_/g, ' ')} · ${s.state} — ${truncate(s.summary, summaryMax)}`;
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

/** What the vendors accept (Slack Block Kit, PagerDuty Events API v2), in characters (code points). */
export const LIMITS = {
  slackHeader: 150,
  slackSection: 3000,
  slackField: 2000,
  slackFields: 10,
  slackText: 3000,
  pagerDutySummary: 1024,
  /** source, component, group, class: PagerDuty documents no maximum; kept to a dedup_key's length. */
  pagerDutyField: 255,
  pagerDutyDetail: 2000,
  teamsTitle: 200,
  teamsText: 2000,
  teamsFact: 500,
  emailSubject: 200,
} as const;

/** Of a resolve's digest, the signals listed in chat (the rest counted): a Slack message has at most 50 blocks. */
const CHAT_SIGNALS_MAX = { slack: 100, teams: 30 } as const;
const SIGNAL_SUMMARY_MAX = { slack: 500, teams: 200, email: 1000 } as const;

const escapeSlackChar = (c: string): string => escapeSlackMrkdwn(c);

function more(n: number): string {
  return `…and ${n} more signal${n === 1 ? '' : 's'}`;
}

/** Plain-text sections of at most `max` code points each, holding `lines` whole where they fit. */
function packLines(lines: string[], max: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const raw of lines) {
    const line = truncate(raw, max);
    if (cur && codePoints(cur) + 1 + codePoints(line) > max) {
      out.push(cur);
      cur = line;
    } else cur = cur ? `${cur}\n${line}` : line;
  }
  if (cur) out.push(cur);
  return out;
}

const WEBHOOK_TYPE: Record<DeliveryAction, string> = {
  trigger: 'incident.triggered',
  update: 'incident.updated',
  resolve: 'incident.resolved',
};

/** The HTTP request each vendor documents, for one record of an incident. Headers carry no tenant text. */
export function buildRequest(
  d: Exclude<Destination, { type: 'email' }>,
  a: Anomaly,
  ctx: MessageContext,
): OutgoingRequest {
  const f = facts(a, ctx);
  const json = { 'content-type': 'application/json' };
  switch (d.type) {
    case 'pagerduty': {
      // An update is a trigger with the incident's dedup_key: PagerDuty folds it into the open alert.
      const dedup_key = pagerDutyDedupKey(ctx.incidentKey);
      const event =
        ctx.action === 'resolve'
          ? { routing_key: d.routing_key, event_action: 'resolve', dedup_key }
          : {
              routing_key: d.routing_key,
              event_action: 'trigger',
              dedup_key,
              payload: {
                summary: truncate(`${f.title}: ${a.summary}`, LIMITS.pagerDutySummary),
                source: truncate(`burnrate/${a.team}/${a.agent_id ?? 'team'}`, LIMITS.pagerDutyField),
                severity: PD_SEVERITY[a.severity] ?? 'warning',
                timestamp: new Date(a.detected_at).toISOString(),
                component: a.agent_id === null ? undefined : truncate(a.agent_id, LIMITS.pagerDutyField),
                group: truncate(a.team, LIMITS.pagerDutyField),
                class: truncate(a.rule, LIMITS.pagerDutyField),
                custom_details: {
                  ...Object.fromEntries(
                    f.lines
                      .filter(([k]) => k !== 'Incident')
                      .map(([k, v]) => [k, truncate(v, LIMITS.pagerDutyDetail)]),
                  ),
                  incident: ctx.incidentKey,
                },
              },
              ...(f.link ? { links: [{ href: f.link, text: 'burnrate: this incident' }] } : {}),
            };
      return { url: ctx.pagerDutyUrl, headers: json, body: JSON.stringify(event) };
    }
    case 'slack': {
      // Tenant strings (agent, team, customers, features, summaries) go as plain_text, which Slack never parses; the
      // fallback text and the fields' values are mrkdwn, so they are escaped and not auto-linked (verbatim).
      const fields = f.lines.map(([k, v]) => {
        const label = `*${k}*\n`;
        return {
          type: 'mrkdwn',
          text: `${label}${truncateEscaped(v, LIMITS.slackField - codePoints(label), escapeSlackChar)}`,
          verbatim: true,
        };
      });
      const blocks: unknown[] = [
        { type: 'header', text: { type: 'plain_text', text: truncate(f.title, LIMITS.slackHeader) } },
        {
          type: 'section',
          text: { type: 'plain_text', text: truncate(a.summary || '(no summary)', LIMITS.slackSection) },
        },
      ];
      for (let i = 0; i < fields.length; i += LIMITS.slackFields)
        blocks.push({ type: 'section', fields: fields.slice(i, i + LIMITS.slackFields) });
      if (f.signals.length) {
        const shown = f.signals.slice(0, CHAT_SIGNALS_MAX.slack);
        const lines = [
          `Signals of this incident (${f.signals.length}):`,
          ...shown.map((s) => `• ${signalLine(s, SIGNAL_SUMMARY_MAX.slack)}`),
          ...(f.signals.length > shown.length ? [more(f.signals.length - shown.length)] : []),
        ];
        for (const text of packLines(lines, LIMITS.slackSection))
          blocks.push({ type: 'section', text: { type: 'plain_text', text } });
      }
      if (f.link)
        blocks.push({
          type: 'actions',
          elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open in burnrate' }, url: f.link }],
        });
      const body = JSON.stringify({
        text: truncateEscaped(`${f.title} — ${a.summary}`, LIMITS.slackText, escapeSlackChar),
        blocks,
      });
      return { url: d.webhook_url, headers: json, body };
    }
    case 'teams': {
      const md = escapeTeamsMarkdown;
      const body: unknown[] = [
        {
          type: 'TextBlock',
          size: 'Medium',
          weight: 'Bolder',
          text: md(truncate(f.title, LIMITS.teamsTitle)),
          wrap: true,
          color: ctx.action === 'resolve' ? 'Good' : 'Attention',
        },
        { type: 'TextBlock', text: md(truncate(a.summary, LIMITS.teamsText)), wrap: true },
        {
          type: 'FactSet',
          facts: f.lines.map(([title, value]) => ({
            title: md(title),
            value: md(truncate(value, LIMITS.teamsFact)),
          })),
        },
      ];
      if (f.signals.length) {
        const shown = f.signals.slice(0, CHAT_SIGNALS_MAX.teams);
        body.push(
          {
            type: 'TextBlock',
            weight: 'Bolder',
            text: `Signals of this incident (${f.signals.length})`,
            wrap: true,
            separator: true,
          },
          {
            type: 'FactSet',
            facts: shown.map((s) => ({
              title: md(`${s.severity.toUpperCase()} · ${s.rule.replace(/_/g, ' ')}`),
              value: md(`${s.state} — ${truncate(s.summary, SIGNAL_SUMMARY_MAX.teams)}`),
            })),
          },
        );
        if (f.signals.length > shown.length)
          body.push({ type: 'TextBlock', text: md(more(f.signals.length - shown.length)), wrap: true });
      }
      const card = {
        type: 'message',
        attachments: [
          {
            contentType: 'application/vnd.microsoft.card.adaptive',
            contentUrl: null,
            content: {
              $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
              type: 'AdaptiveCard',
              version: '1.4',
              body,
              ...(f.link
                ? { actions: [{ type: 'Action.OpenUrl', title: 'Open in burnrate', url: f.link }] }
                : {}),
            },
          },
        ],
      };
      return { url: d.webhook_url, headers: json, body: JSON.stringify(card) };
    }
    case 'webhook': {
      // Standard Webhooks: the id is the delivery's (opaque, the same on every retry), never tenant text.
      const body = JSON.stringify({
        type: WEBHOOK_TYPE[ctx.action],
        timestamp: new Date(ctx.now).toISOString(),
        data: { ...a, incident_key: ctx.incidentKey, action: ctx.action },
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

/**
 * An email, shaped for Nodemailer: the worker passes it straight on,
 * `sendMail({ from, to, subject, text, html, messageId, headers })`. Nodemailer sets Message-ID from `messageId` and
 * adds `headers` as they are (In-Reply-To and References keep their angle brackets; it folds and encodes the rest).
 */
export interface EmailContent {
  /** Stable per incident, `Re: ` on every message after the trigger, so clients that thread on subjects do too. */
  subject: string;
  text: string;
  html: string;
  /** `<incidentKey@burnrate>` for the trigger; `<incidentKey.deliveryId@burnrate>` for each later message. */
  messageId: string;
  /**
   * Always `Auto-Submitted: auto-generated` (RFC 3834) and `X-Auto-Response-Suppress: All`; after the trigger also
   * `In-Reply-To` and `References` naming the trigger's Message-ID: one thread per incident.
   */
  headers: Record<string, string>;
}

/** A Message-ID's part from an opaque id: only dot-atom characters (RFC 5322), so it is header-safe whatever it is. */
const msgIdPart = (s: string): string => s.replace(/[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]/g, '_') || '_';

/** The short form of an incident key a subject shows: its first 8 characters after the `inc_` prefix. */
export function shortIncident(key: string): string {
  return key.replace(/^inc_/, '').slice(0, 8);
}

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]);

export function emailContent(a: Anomaly, ctx: MessageContext): EmailContent {
  const f = facts(a, ctx);
  const esc = escapeHtml;
  const root = `<${msgIdPart(ctx.incidentKey)}@burnrate>`;
  const first = ctx.action === 'trigger';
  const headers: Record<string, string> = {
    'Auto-Submitted': 'auto-generated',
    'X-Auto-Response-Suppress': 'All',
    ...(first ? {} : { 'In-Reply-To': root, References: root }),
  };
  const messageId = first ? root : `<${msgIdPart(ctx.incidentKey)}.${msgIdPart(ctx.deliveryId)}@burnrate>`;
  // control characters (a line break) in a header value are the client's to mangle: spaces instead
  const who = truncate(a.agent_id ?? a.team, LIMITS.emailSubject - 40).replace(
    /[\p{Cc}\p{Zl}\p{Zp}]+/gu,
    ' ',
  );
  const subject = `${first ? '' : 'Re: '}[burnrate] ${who} — incident ${shortIncident(ctx.incidentKey)}`;
  const signals = f.signals.map((s) => ({ ...s, summary: truncate(s.summary, SIGNAL_SUMMARY_MAX.email) }));
  const text = [
    f.title,
    '',
    a.summary,
    '',
    ...f.lines.map(([k, v]) => `${k}: ${v}`),
    ...(signals.length
      ? [
          '',
          `Signals of this incident (${signals.length}):`,
          ...signals.map((s) => `- ${signalLine(s, Infinity)}`),
        ]
      : []),
    ...(f.link ? ['', f.link] : []),
    '',
  ].join('\n');
  const html = [
    `<h2>${esc(f.title)}</h2>`,
    `<p>${esc(a.summary)}</p>`,
    `<table>${f.lines.map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`,
    signals.length
      ? `<h3>Signals of this incident (${signals.length})</h3><table><tr><th align="left">Severity</th><th align="left">Rule</th><th align="left">State</th><th align="left">Summary</th></tr>${signals.map((s) => `<tr><td>${esc(s.severity.toUpperCase())}</td><td>${esc(s.rule)}</td><td>${esc(s.state)}</td><td>${esc(s.summary)}</td></tr>`).join('')}</table>`
      : '',
    f.link ? `<p><a href="${esc(f.link)}">Open in burnrate</a></p>` : '',
  ].join('');
  return { subject, text, html, messageId, headers };
}
