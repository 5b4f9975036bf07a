import { randomBytes, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

/**
 * Local stand-ins for the services burnrate delivers alerts to, as strict as each vendor's documentation:
 *
 * - `/pagerduty…` PagerDuty Events API v2 (https://events.pagerduty.com/v2/enqueue)
 * - `/slack…`     a Slack incoming webhook (Block Kit)
 * - `/teams…`     a Teams Workflows webhook ("When a Teams webhook request is received") with an Adaptive Card
 * - `/hook…`      a Standard Webhooks receiver (https://www.standardwebhooks.com) verifying the signature
 * - SMTP          an SMTP server (smtp-server) that records each message
 *
 * A request the vendor would refuse is answered with the vendor's own error (status and body) and its reasons are
 * recorded in `problems`; a request it would accept is answered as the vendor answers. `script` / `fail` make a path
 * answer something else (rate limits, archived channels, redirects, outages) for the next requests.
 */

export type Vendor = 'pagerduty' | 'slack' | 'teams' | 'webhook' | 'other';

export interface Received {
  path: string;
  at: number;
  method: string;
  headers: IncomingMessage['headers'];
  /** The body parsed as JSON ({} when it is not JSON). */
  body: Record<string, unknown>;
  /** The body as sent (UTF-8). */
  raw: string;
  /**
   * Why the vendor refuses this request (it was answered with the vendor's error), or — for PagerDuty — why it
   * accepted it and did nothing (a resolve or acknowledge of an alert that is not open). Empty: all is well.
   */
  problems: string[];
  /** The status the fake answered. */
  status: number;
  /** The body the fake answered. */
  response: string;
}

/** One scripted answer; `location` starting with '/' is made absolute on this server. */
export interface Scripted {
  status: number;
  retryAfter?: string;
  body?: string;
  headers?: Record<string, string>;
  location?: string;
}

export interface Mail {
  /** Envelope recipients that were accepted, comma-joined. */
  to: string;
  /** Envelope sender. */
  from: string;
  raw: string;
  /** Header fields by lower-case name, unfolded, RFC 2047 encoded words decoded; repeated fields joined with ', '. */
  headers: Record<string, string>;
}

export interface SmtpRejection {
  address: string;
  code: number;
  stage: 'rcpt' | 'data';
  at: number;
}

const PD_SEVERITIES = ['critical', 'error', 'warning', 'info'];
const PD_ACTIONS = ['trigger', 'acknowledge', 'resolve'];
/** PagerDuty refuses an event over 512 KB. */
const PD_MAX_BYTES = 512 * 1024;
/** Teams refuses a message over 28 KB. */
const TEAMS_MAX_BYTES = 28 * 1024;
/** Standard Webhooks: a receiver refuses a timestamp more than five minutes away. */
const WEBHOOK_TOLERANCE_S = 300;

const SLACK_BLOCK_TYPES = new Set([
  'actions',
  'context',
  'divider',
  'file',
  'header',
  'image',
  'input',
  'markdown',
  'rich_text',
  'section',
  'table',
  'video',
]);
const ADAPTIVE_ACTIONS = new Set([
  'Action.OpenUrl',
  'Action.Submit',
  'Action.ShowCard',
  'Action.ToggleVisibility',
  'Action.Execute',
]);

export function vendorOf(path: string): Vendor {
  const p = path.split('?')[0];
  if (p.startsWith('/pagerduty')) return 'pagerduty';
  if (p.startsWith('/slack')) return 'slack';
  if (p.startsWith('/teams')) return 'teams';
  if (p.startsWith('/hook')) return 'webhook';
  return 'other';
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isUrl = (v: unknown): boolean => {
  if (typeof v !== 'string' || !v) return false;
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
};
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** PagerDuty Events API v2: the checks behind its 400 "invalid event" (messages in PagerDuty's style). */
function checkPagerDuty(body: Record<string, unknown>, bytes: number): string[] {
  const p: string[] = [];
  if (bytes > PD_MAX_BYTES) p.push('Event is too large (should be at most 512 KB)');
  if (typeof body.routing_key !== 'string' || !body.routing_key) p.push("'routing_key' is missing or blank");
  else if (body.routing_key.length !== 32)
    p.push("Length of 'routing_key' is incorrect (should be 32 characters)");
  const action = body.event_action;
  if (typeof action !== 'string' || !action) p.push("'event_action' is missing or blank");
  else if (!PD_ACTIONS.includes(action))
    p.push("'event_action' is invalid (must be one of 'trigger', 'acknowledge' or 'resolve')");
  if (body.dedup_key !== undefined && body.dedup_key !== null) {
    if (typeof body.dedup_key !== 'string') p.push("'dedup_key' must be a string");
    else if (body.dedup_key.length > 255)
      p.push("'dedup_key' is too long (should be at most 255 characters)");
  }
  if (
    (action === 'acknowledge' || action === 'resolve') &&
    (typeof body.dedup_key !== 'string' || !body.dedup_key)
  )
    p.push(`'dedup_key' is missing or blank (required to ${action})`);
  if (action === 'trigger') {
    const payload = body.payload;
    if (!isObject(payload)) p.push("'payload' is missing or blank");
    else {
      if (typeof payload.summary !== 'string' || !payload.summary)
        p.push("'payload.summary' is missing or blank");
      else if (payload.summary.length > 1024)
        p.push("'payload.summary' is too long (should be at most 1024 characters)");
      if (typeof payload.source !== 'string' || !payload.source)
        p.push("'payload.source' is missing or blank");
      if (typeof payload.severity !== 'string' || !payload.severity)
        p.push("'payload.severity' is missing or blank");
      else if (!PD_SEVERITIES.includes(payload.severity))
        p.push("'payload.severity' is invalid (must be one of 'critical', 'error', 'warning' or 'info')");
      if (
        payload.timestamp !== undefined &&
        (typeof payload.timestamp !== 'string' ||
          !ISO_8601.test(payload.timestamp) ||
          Number.isNaN(Date.parse(payload.timestamp)))
      )
        p.push("'payload.timestamp' is invalid (should be an ISO 8601 timestamp)");
      for (const f of ['component', 'group', 'class'])
        if (payload[f] !== undefined && typeof payload[f] !== 'string')
          p.push(`'payload.${f}' must be a string`);
    }
    for (const [field, required] of [
      ['links', 'href'],
      ['images', 'src'],
    ] as const) {
      const list = body[field];
      if (list === undefined) continue;
      if (!Array.isArray(list)) {
        p.push(`'${field}' must be an array`);
        continue;
      }
      list.forEach((item: unknown, i) => {
        if (!isObject(item)) p.push(`'${field}[${i}]' must be an object`);
        else if (!isUrl(item[required])) p.push(`'${field}[${i}].${required}' is missing or not a URL`);
        else if (item.href !== undefined && !isUrl(item.href)) p.push(`'${field}[${i}].href' is not a URL`);
      });
    }
  }
  return p;
}

/** A Block Kit text object; returns a problem or null. */
function slackText(t: unknown, where: string, max: number, plainOnly = false): string | null {
  if (!isObject(t)) return `${where} must be a text object`;
  if (plainOnly ? t.type !== 'plain_text' : t.type !== 'plain_text' && t.type !== 'mrkdwn')
    return `${where}.type must be ${plainOnly ? 'plain_text' : 'plain_text or mrkdwn'}`;
  if (typeof t.text !== 'string' || t.text.length === 0) return `${where}.text must not be empty`;
  if (t.text.length > max) return `${where}.text must be at most ${max} characters (is ${t.text.length})`;
  return null;
}

/** Slack incoming webhook with Block Kit: the checks behind its 400 invalid_blocks / no_text. */
function checkSlack(body: Record<string, unknown>): { problems: string[]; error: string } {
  const p: string[] = [];
  const hasText = typeof body.text === 'string' && body.text.length > 0;
  const blocks = body.blocks;
  const hasAttachments = Array.isArray(body.attachments) && body.attachments.length > 0;
  if (!hasText && blocks === undefined && !hasAttachments)
    return { problems: ['no text: a message needs text or blocks'], error: 'no_text' };
  if (body.text !== undefined && typeof body.text !== 'string')
    return { problems: ['text must be a string'], error: 'invalid_payload' };
  if (blocks !== undefined) {
    if (!Array.isArray(blocks)) p.push('blocks must be an array');
    else {
      if (blocks.length === 0 && !hasText) p.push('blocks must not be empty');
      if (blocks.length > 50) p.push(`blocks must be at most 50 (are ${blocks.length})`);
      blocks.forEach((b: unknown, i) => {
        const at = `blocks[${i}]`;
        if (!isObject(b) || typeof b.type !== 'string')
          return void p.push(`${at} must be a block with a type`);
        if (!SLACK_BLOCK_TYPES.has(b.type)) return void p.push(`${at}.type ${b.type} is not a block type`);
        if (b.block_id !== undefined && (typeof b.block_id !== 'string' || b.block_id.length > 255))
          p.push(`${at}.block_id must be at most 255 characters`);
        if (b.type === 'header') {
          const e = slackText(b.text, `${at}.text`, 150, true);
          if (e) p.push(e);
        } else if (b.type === 'section') {
          if (b.text === undefined && b.fields === undefined) p.push(`${at} needs text or fields`);
          if (b.text !== undefined) {
            const e = slackText(b.text, `${at}.text`, 3000);
            if (e) p.push(e);
          }
          if (b.fields !== undefined) {
            if (!Array.isArray(b.fields) || b.fields.length === 0)
              p.push(`${at}.fields must be a non-empty array`);
            else {
              if (b.fields.length > 10) p.push(`${at}.fields must be at most 10 (are ${b.fields.length})`);
              b.fields.forEach((f: unknown, j) => {
                const e = slackText(f, `${at}.fields[${j}]`, 2000);
                if (e) p.push(e);
              });
            }
          }
        } else if (b.type === 'actions') {
          const els = b.elements;
          if (!Array.isArray(els) || els.length === 0) p.push(`${at}.elements must be a non-empty array`);
          else {
            if (els.length > 25) p.push(`${at}.elements must be at most 25 (are ${els.length})`);
            els.forEach((el: unknown, j) => {
              const w = `${at}.elements[${j}]`;
              if (!isObject(el)) return void p.push(`${w} must be an element`);
              if (el.type !== 'button') return;
              const e = slackText(el.text, `${w}.text`, 75, true);
              if (e) p.push(e);
              if (el.url !== undefined) {
                if (typeof el.url !== 'string' || el.url.length > 3000)
                  p.push(`${w}.url must be at most 3000 characters`);
                else if (!isUrl(el.url)) p.push(`${w}.url must be a valid URL`);
              }
              if (el.value !== undefined && (typeof el.value !== 'string' || el.value.length > 2000))
                p.push(`${w}.value must be at most 2000 characters`);
              if (
                el.action_id !== undefined &&
                (typeof el.action_id !== 'string' || el.action_id.length > 255)
              )
                p.push(`${w}.action_id must be at most 255 characters`);
              if (el.style !== undefined && el.style !== 'primary' && el.style !== 'danger')
                p.push(`${w}.style must be primary or danger`);
            });
          }
        } else if (b.type === 'context') {
          if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > 10)
            p.push(`${at}.elements must be 1..10`);
        }
      });
    }
  }
  return { problems: p, error: 'invalid_blocks' };
}

/** Teams Workflows webhook: a message with Adaptive Card attachments (version <= 1.5), at most 28 KB. */
function checkTeams(body: Record<string, unknown>, bytes: number): string[] {
  const p: string[] = [];
  if (bytes > TEAMS_MAX_BYTES) p.push(`message is ${bytes} bytes; the limit is 28 KB`);
  if (body.type !== 'message') p.push("type must be 'message'");
  const atts = body.attachments;
  if (!Array.isArray(atts) || atts.length === 0) return [...p, 'attachments must be a non-empty array'];
  atts.forEach((att: unknown, i) => {
    const at = `attachments[${i}]`;
    if (!isObject(att)) return void p.push(`${at} must be an object`);
    if (att.contentType !== 'application/vnd.microsoft.card.adaptive')
      p.push(`${at}.contentType must be application/vnd.microsoft.card.adaptive`);
    const card = att.content;
    if (!isObject(card)) return void p.push(`${at}.content must be an Adaptive Card`);
    if (card.type !== 'AdaptiveCard') p.push(`${at}.content.type must be AdaptiveCard`);
    if (typeof card.version !== 'string' || !/^1\.[0-5]$/.test(card.version))
      p.push(`${at}.content.version must be 1.0..1.5 (is ${String(card.version)})`);
    if (!Array.isArray(card.body) || card.body.length === 0)
      p.push(`${at}.content.body must be a non-empty array`);
    else
      card.body.forEach((el: unknown, j) => {
        const w = `${at}.content.body[${j}]`;
        if (!isObject(el) || typeof el.type !== 'string' || !el.type)
          return void p.push(`${w} must have a type`);
        if (el.type === 'TextBlock' && typeof el.text !== 'string') p.push(`${w}.text must be a string`);
        if (el.type === 'FactSet') {
          if (!Array.isArray(el.facts)) p.push(`${w}.facts must be an array`);
          else
            el.facts.forEach((f: unknown, k) => {
              if (!isObject(f) || typeof f.title !== 'string' || typeof f.value !== 'string')
                p.push(`${w}.facts[${k}] needs string title and value`);
            });
        }
      });
    if (card.actions !== undefined) {
      if (!Array.isArray(card.actions)) p.push(`${at}.content.actions must be an array`);
      else
        card.actions.forEach((a: unknown, j) => {
          const w = `${at}.content.actions[${j}]`;
          if (!isObject(a) || typeof a.type !== 'string' || !ADAPTIVE_ACTIONS.has(a.type))
            return void p.push(`${w}.type must be an Adaptive Card action`);
          if (a.type === 'Action.OpenUrl' && !isUrl(a.url)) p.push(`${w}.url must be a URL`);
        });
    }
  });
  return p;
}

/** Standard Webhooks: verify as a receiver does (headers, tolerance, v1 HMAC-SHA256 over `${id}.${ts}.${body}`). */
function checkWebhook(
  body: Record<string, unknown>,
  rawBytes: Buffer,
  headers: IncomingMessage['headers'],
  secret: string,
): string[] {
  const p: string[] = [];
  const one = (h: string | string[] | undefined): string => (Array.isArray(h) ? h.join(',') : (h ?? ''));
  // node hands header bytes over as latin1: recover the bytes as sent
  const idBytes = Buffer.from(one(headers['webhook-id']), 'latin1');
  const id = idBytes.toString('utf8');
  const ts = one(headers['webhook-timestamp']);
  const sig = one(headers['webhook-signature']);
  if (!idBytes.length) p.push('webhook-id is missing');
  else {
    if (![...idBytes].every((b) => b >= 0x21 && b <= 0x7e)) p.push('webhook-id must be printable ASCII');
    if (!/^[^.\s]+$/.test(id)) p.push('webhook-id must not contain dots or whitespace');
    const data = isObject(body.data) ? body.data : {};
    const tenant = [data.agent_id, data.team].filter(
      (v): v is string => typeof v === 'string' && v.length >= 4,
    );
    if (tenant.some((t) => id.includes(t))) p.push('webhook-id carries tenant text');
  }
  if (!/^\d+$/.test(ts)) p.push('webhook-timestamp must be integer seconds');
  else if (Math.abs(Date.now() / 1000 - Number(ts)) > WEBHOOK_TOLERANCE_S)
    p.push('webhook-timestamp outside the 5-minute tolerance');
  if (!sig) p.push('webhook-signature is missing');
  else {
    const expected = createHmac('sha256', Buffer.from(secret.replace(/^whsec_/, ''), 'base64'))
      .update(Buffer.concat([idBytes, Buffer.from(`.${ts}.`), rawBytes]))
      .digest();
    const given = sig
      .split(' ')
      .filter((s) => s.startsWith('v1,'))
      .map((s) => Buffer.from(s.slice(3), 'base64'));
    if (!given.some((g) => g.length === expected.length && timingSafeEqual(g, expected)))
      p.push('webhook-signature does not verify');
  }
  // (the spec recommends a {type, timestamp, data} envelope but requires none: a receiver verifies the raw bytes)
  return p;
}

type Answer = { status: number; body: string; headers: Record<string, string> };
const TEXT = { 'content-type': 'text/plain; charset=utf-8' };
const JSON_TYPE = { 'content-type': 'application/json' };

/** The error each vendor answers for a refused request. */
function vendorError(vendor: Vendor, problems: string[], slackError = 'invalid_blocks'): Answer {
  switch (vendor) {
    case 'pagerduty':
      return {
        status: 400,
        headers: JSON_TYPE,
        body: JSON.stringify({
          status: 'invalid event',
          message: 'Event object is invalid',
          errors: problems,
        }),
      };
    case 'slack':
      return { status: 400, headers: TEXT, body: slackError };
    case 'teams':
      return {
        status: 400,
        headers: JSON_TYPE,
        body: JSON.stringify({
          error: {
            code: 'TriggerInputSchemaMismatch',
            message: `The input body for trigger 'manual' of type 'Request' did not match its schema definition. Error details: '${problems.join('; ')}'.`,
          },
        }),
      };
    default:
      return { status: 400, headers: TEXT, body: problems.join('; ') };
  }
}

/** What a vendor sends with a scripted status when the script gives no body. */
function defaultBody(vendor: Vendor, status: number): Answer {
  if (vendor === 'slack') {
    const code: Record<number, string> = {
      400: 'invalid_payload',
      403: 'action_prohibited',
      404: 'no_service',
      410: 'channel_is_archived',
      429: 'rate_limited',
      500: 'rollup_error',
    };
    return { status, headers: TEXT, body: code[status] ?? '' };
  }
  if (vendor === 'pagerduty' && status === 400) return vendorError('pagerduty', ['(scripted)']);
  return { status, headers: {}, body: '' };
}

export const PRESETS = {
  /** Slack: a block it will not render (400 invalid_blocks). */
  slack_invalid_blocks: [{ status: 400, body: 'invalid_blocks' }],
  /** Slack: the webhook's channel was archived (410 channel_is_archived) — permanent. */
  slack_channel_is_archived: [{ status: 410, body: 'channel_is_archived' }],
  /** Slack: a workspace restriction forbids the post (403 action_prohibited). */
  slack_action_prohibited: [{ status: 403, body: 'action_prohibited' }],
  /** Slack: the webhook was revoked or never existed (404 no_service). */
  slack_no_service: [{ status: 404, body: 'no_service' }],
  /** Slack: rate limited (429 with Retry-After). */
  slack_rate_limited: [{ status: 429, retryAfter: '1', body: 'rate_limited' }],
  /** PagerDuty: 400 invalid event, whatever was sent. */
  pagerduty_invalid: [
    {
      status: 400,
      body: JSON.stringify({
        status: 'invalid event',
        message: 'Event object is invalid',
        errors: ["Length of 'routing_key' is incorrect (should be 32 characters)"],
      }),
      headers: JSON_TYPE,
    },
  ],
  /** PagerDuty: too many events for the integration (429, no body, no Retry-After — as PagerDuty documents). */
  pagerduty_rate_limited: [{ status: 429 }],
  /** The retired Office 365 connector: 200 whose body says delivery failed (Teams answered 403 to it). */
  teams_connector_failed: [
    {
      status: 200,
      headers: TEXT,
      body: 'Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 403 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0..',
    },
  ],
  /** Teams: throttled (429 with Retry-After). */
  teams_rate_limited: [{ status: 429, retryAfter: '1' }],
  /** Webhook receiver: the endpoint is gone for good (410). */
  webhook_gone: [{ status: 410, body: 'Gone' }],
  /** Webhook receiver: redirects to `<path>-redirected` (307), which a sender must not follow. */
  webhook_redirect: [{ status: 307, location: '' }],
  /** Any vendor: 500 with the vendor's body (Slack: rollup_error). */
  server_error: [{ status: 500 }],
} satisfies Record<string, Scripted[]>;
export type Preset = keyof typeof PRESETS;

/** RFC 2047 encoded words (=?charset?Q|B?text?=) decoded. */
function decodeWords(v: string): string {
  return v
    .replace(/(=\?[^?]+\?[QqBb]\?[^?]*\?=)\s+(?==\?[^?]+\?[QqBb]\?[^?]*\?=)/g, '$1')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, charset: string, enc: string, text: string) => {
      const bytes =
        enc.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text
                .replace(/_/g, ' ')
                .replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            );
      return bytes.toString(/^(iso-8859-1|latin1|us-ascii)$/i.test(charset) ? 'latin1' : 'utf8');
    });
}

/** The header section of a message: unfolded, by lower-case name. */
export function parseHeaders(raw: string): Record<string, string> {
  const end = raw.search(/\r?\n\r?\n/);
  const section = (end < 0 ? raw : raw.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of section.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = decodeWords(line.slice(colon + 1).trim());
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

interface PdAlert {
  status: 'triggered' | 'acknowledged' | 'resolved';
}

export class FakeVendors {
  readonly received: Received[] = [];
  readonly mails: Mail[] = [];
  /** Recipients and messages the SMTP server refused. */
  readonly smtpRejections: SmtpRejection[] = [];
  /** path -> answers to give in turn, whatever the request (then the vendor's own answer). */
  readonly script = new Map<string, Scripted[]>();
  /** PagerDuty alerts by routing_key and dedup_key, as the events processed left them. */
  private readonly alerts = new Map<string, PdAlert>();
  private readonly rejects = new Map<string, { code: number; left: number }>();
  private server!: Server;
  private smtp!: SMTPServer;
  port = 0;
  smtpPort = 0;

  constructor(private readonly webhookSecret: string) {}

  /** Answer the next `times` requests to `path` as `preset` says (after anything already scripted). */
  fail(path: string, preset: Preset, times = 1): void {
    const queue = this.script.get(path) ?? [];
    for (let i = 0; i < times; i++) queue.push(...PRESETS[preset].map((s) => ({ ...s })));
    this.script.set(path, queue);
  }

  /**
   * Make the SMTP server refuse mail to `address`: 550 (no such user) or 450 (mailbox busy, try later) at RCPT TO;
   * 554 (transaction failed) or 421 (service unavailable; the connection is closed) at DATA.
   */
  smtpReject(address: string, code: 550 | 450 | 554 | 421, times = Number.POSITIVE_INFINITY): void {
    this.rejects.set(address.toLowerCase(), { code, left: times });
  }

  /** Stop refusing mail to `address`. */
  smtpAccept(address: string): void {
    this.rejects.delete(address.toLowerCase());
  }

  /** A PagerDuty alert's state after the events the fake accepted, or undefined if never triggered. */
  alertState(dedupKey: string, routingKey?: string): PdAlert['status'] | undefined {
    if (routingKey !== undefined) return this.alerts.get(`${routingKey} ${dedupKey}`)?.status;
    for (const [k, v] of this.alerts) if (k.endsWith(` ${dedupKey}`)) return v.status;
    return undefined;
  }

  /** Forget what was received, scripted and opened. */
  clear(): void {
    this.received.length = 0;
    this.mails.length = 0;
    this.smtpRejections.length = 0;
    this.script.clear();
    this.alerts.clear();
    this.rejects.clear();
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    this.smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onAuth: (auth, _session, cb) => cb(null, { user: auth.username }),
      onRcptTo: (address, _session, cb) => cb(this.refusal(address.address, 'rcpt')),
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const refused = this.refusedData(session);
          if (refused) return cb(refused);
          const raw = Buffer.concat(chunks).toString('utf8');
          this.mails.push({
            to: session.envelope.rcptTo.map((r) => r.address).join(','),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            raw,
            headers: parseHeaders(raw),
          });
          cb();
        });
      },
    });
    await new Promise<void>((r) => this.smtp.listen(0, '127.0.0.1', r));
    this.smtpPort = (this.smtp.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
    await new Promise((r) => this.smtp.close(() => r(undefined)));
  }

  private refusal(address: string, stage: 'rcpt' | 'data'): Error | null {
    const rule = this.rejects.get(address.toLowerCase());
    if (!rule || rule.left <= 0) return null;
    const atRcpt = rule.code === 550 || rule.code === 450;
    if (atRcpt !== (stage === 'rcpt')) return null;
    rule.left--;
    this.smtpRejections.push({ address, code: rule.code, stage, at: Date.now() });
    const text: Record<number, string> = {
      550: `5.1.1 <${address}>: Recipient address rejected: User unknown`,
      450: `4.2.1 <${address}>: Recipient address rejected: Mailbox busy, try again later`,
      554: '5.7.1 Transaction failed: message rejected',
      421: '4.3.2 Service not available, closing transmission channel',
    };
    return Object.assign(new Error(text[rule.code]), { responseCode: rule.code });
  }

  private refusedData(session: SMTPServerSession): Error | null {
    for (const r of session.envelope.rcptTo) {
      const e = this.refusal(r.address, 'data');
      if (e) return e;
    }
    return null;
  }

  private handle(req: IncomingMessage, res: ServerResponse, rawBytes: Buffer): void {
    const path = req.url ?? '/';
    const vendor = vendorOf(path);
    const raw = rawBytes.toString('utf8');
    const method = req.method ?? 'GET';
    let body: Record<string, unknown> = {};
    let parsed = false;
    try {
      const v: unknown = JSON.parse(raw);
      if (isObject(v)) {
        body = v;
        parsed = true;
      }
    } catch {
      // not JSON
    }

    // What the vendor refuses, and with which answer.
    let problems: string[] = [];
    let refusal: Answer | null = null;
    const contentType = String(req.headers['content-type'] ?? '');
    if (method !== 'POST' && vendor !== 'other') {
      problems = [`method ${method} not allowed; POST`];
      refusal = { status: 405, headers: TEXT, body: 'Method Not Allowed' };
    } else if (
      vendor !== 'other' &&
      vendor !== 'webhook' &&
      contentType &&
      !/^application\/json\b/i.test(contentType)
    ) {
      problems = [`content-type ${contentType} is not application/json`];
      refusal = vendorError(vendor, problems, 'invalid_payload');
    } else if (!parsed && vendor !== 'other' && vendor !== 'webhook') {
      problems = ['body is not a JSON object'];
      refusal = vendorError(vendor, problems, 'invalid_payload');
    } else if (vendor === 'pagerduty') {
      problems = checkPagerDuty(body, rawBytes.length);
      if (problems.length) refusal = vendorError(vendor, problems);
    } else if (vendor === 'slack') {
      const s = checkSlack(body);
      problems = s.problems;
      if (problems.length) refusal = vendorError(vendor, problems, s.error);
    } else if (vendor === 'teams') {
      problems = checkTeams(body, rawBytes.length);
      if (problems.length) refusal = vendorError(vendor, problems);
    } else if (vendor === 'webhook') {
      problems = checkWebhook(body, rawBytes, req.headers, this.webhookSecret);
      if (problems.length) refusal = vendorError(vendor, problems);
    }

    let answer: Answer;
    const next = this.script.get(path)?.shift();
    if (next) {
      const base =
        next.body === undefined ? defaultBody(vendor, next.status) : { headers: TEXT, body: next.body };
      const headers: Record<string, string> = { ...base.headers, ...next.headers };
      if (next.retryAfter) headers['retry-after'] = next.retryAfter;
      if (next.location !== undefined) {
        const to = next.location || `${path.split('?')[0]}-redirected`;
        headers.location = to.startsWith('/') ? this.url(to) : to;
      }
      answer = { status: next.status, headers, body: next.status === 204 ? '' : base.body };
    } else if (refusal) answer = refusal;
    else answer = this.accept(vendor, body, problems);

    this.received.push({
      path,
      at: Date.now(),
      method,
      headers: req.headers,
      body,
      raw,
      problems,
      status: answer.status,
      response: answer.body,
    });
    res.writeHead(answer.status, answer.headers).end(answer.body);
  }

  /** The vendor's answer to a request it accepts (and, for PagerDuty, what the event does to its alert). */
  private accept(vendor: Vendor, body: Record<string, unknown>, problems: string[]): Answer {
    switch (vendor) {
      case 'pagerduty': {
        const action = body.event_action as string;
        const dedupKey =
          typeof body.dedup_key === 'string' && body.dedup_key
            ? body.dedup_key
            : randomBytes(16).toString('hex');
        const key = `${String(body.routing_key)} ${dedupKey}`;
        const alert = this.alerts.get(key);
        if (action === 'trigger') {
          if (!alert || alert.status === 'resolved') this.alerts.set(key, { status: 'triggered' });
        } else if (!alert) problems.push(`${action} for an alert never triggered`);
        else if (alert.status === 'resolved') problems.push(`${action} for an alert already resolved`);
        else alert.status = action === 'resolve' ? 'resolved' : 'acknowledged';
        return {
          status: 202,
          headers: JSON_TYPE,
          body: JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: dedupKey }),
        };
      }
      case 'slack':
        return { status: 200, headers: TEXT, body: 'ok' };
      case 'teams':
        return { status: 202, headers: {}, body: '' };
      case 'webhook':
        return { status: 204, headers: {}, body: '' };
      default:
        return { status: 204, headers: {}, body: '' };
    }
  }
}
