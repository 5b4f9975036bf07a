import type { Destination } from './types';

/**
 * What one attempt at a delivery came to, read as the destination's vendor documents its answers:
 * - `delivered`: the destination took the message (with `error` when only part of it did: some email recipients
 *   refused);
 * - `accepted`: the destination queued it to post later (Teams Workflows' 202): not known to be shown;
 * - `retry`: worth another attempt (rate limited, the receiver down, the network), honouring `retryAfter`;
 * - `failed`: another attempt would get the same answer; `disable`: the receiver asked never to be sent to again
 *   (a webhook's 410 Gone).
 */
export type DeliveryOutcome =
  | { kind: 'delivered'; error?: string }
  | { kind: 'accepted' }
  | { kind: 'retry'; error: string; retryAfter: string | null }
  | { kind: 'failed'; error: string; disable?: true };

/** An HTTP attempt: the answer (status null when none came: `error` says why). */
export interface HttpAttempt {
  status: number | null;
  /** As sent, at most MAX_RESPONSE_BYTES. */
  body?: Buffer | string | null;
  retryAfter?: string | null;
  /** A redirect's Location, named (host only) in the error. */
  location?: string | null;
  error?: string;
}

/** How much of a destination's answer an error quotes. */
const QUOTE_MAX = 200;

/** The 200 body of a retired Office 365 connector (or a flow) that could not post to Teams. */
const TEAMS_FAILURES = ['Webhook message delivery failed', 'Microsoft Teams endpoint returned HTTP error'];

/** What Slack's permanent errors mean, for the operator reading the delivery's error. */
const SLACK_HINTS: Record<string, string> = {
  invalid_blocks: 'Slack refused the message blocks',
  invalid_payload: 'Slack could not read the message',
  no_text: 'the message had no text',
  no_service: 'the webhook was revoked or disabled',
  no_service_id: 'the webhook URL is incomplete',
  no_team: 'the workspace is gone',
  team_disabled: 'the workspace is disabled',
  action_prohibited: 'a workspace admin restricted posting to the channel',
  channel_is_archived: 'the channel is archived',
  channel_not_found: 'the channel is gone',
  posting_to_general_channel_denied: 'only admins may post to the channel',
  invalid_token: 'the webhook was revoked',
};

/**
 * The outcome of one POST to a destination. Every destination: no answer (timeout, connection refused, DNS) is
 * retried, and so are 408, 429 and 5xx; a redirect is a failure (never followed; Standard Webhooks calls it one).
 * Then per vendor:
 * - PagerDuty Events v2: 202 delivered; 400 failed quoting its `message` and `errors`;
 * - Slack incoming webhooks: 200 `ok` delivered, a 2xx with another body failed; any other 4xx failed quoting Slack's
 *   error string (`invalid_blocks`, `no_service`, `channel_is_archived`…);
 * - Teams: 202 accepted (Workflows queues the post); a 200 whose body says the post failed (retired connectors) failed;
 * - webhooks: 2xx delivered; 410 failed and the destination disabled; other 4xx failed.
 */
export function interpretResponse(type: Destination['type'], attempt: HttpAttempt): DeliveryOutcome {
  const { status } = attempt;
  const retryAfter = attempt.retryAfter ?? null;
  if (status === null || status === 0)
    return { kind: 'retry', error: attempt.error ?? 'no answer', retryAfter: null };
  const text = bodyText(attempt.body);
  if (status >= 300 && status < 400)
    return {
      kind: 'failed',
      error: `HTTP ${status}: redirects are not followed${attempt.location ? ` (to ${maskLocation(attempt.location)})` : ''}`,
    };
  const described = `HTTP ${status}${vendorDetail(type, status, text)}`;
  if (status < 200 || status === 408 || status === 429 || status >= 500)
    return { kind: 'retry', error: described, retryAfter };
  if (status < 300) return success(type, status, text);
  if (type === 'webhook' && status === 410)
    return {
      kind: 'failed',
      error: `HTTP 410: the receiver asked not to be sent to again (Gone); destination disabled`,
      disable: true,
    };
  return { kind: 'failed', error: described };
}

function success(type: Destination['type'], status: number, text: string): DeliveryOutcome {
  switch (type) {
    case 'slack':
      return text.trim() === 'ok'
        ? { kind: 'delivered' }
        : {
            kind: 'failed',
            error: `HTTP ${status} without "ok": Slack did not post the message${text.trim() ? `: ${quote(text)}` : ''}`,
          };
    case 'teams': {
      const failure = TEAMS_FAILURES.find((f) => text.includes(f));
      if (failure) return { kind: 'failed', error: `HTTP ${status} but Teams did not post: ${quote(text)}` };
      return status === 202 ? { kind: 'accepted' } : { kind: 'delivered' };
    }
    default:
      return { kind: 'delivered' };
  }
}

/** What a vendor's error body says, as `: …` after the status; nothing from a webhook receiver (tenant text). */
function vendorDetail(type: Destination['type'], status: number, text: string): string {
  if (!text.trim() || type === 'webhook' || type === 'email') return '';
  if (type === 'slack') {
    const code = text.trim().split(/\s/)[0];
    const hint = SLACK_HINTS[code];
    return `: ${quote(code)}${hint && status < 500 ? ` (${hint})` : ''}`;
  }
  const json = parseJson(text);
  if (type === 'pagerduty' && json) {
    const message = typeof json.message === 'string' ? json.message : null;
    const errors = Array.isArray(json.errors) ? json.errors.filter((e) => typeof e === 'string') : [];
    if (message || errors.length)
      return `: ${quote([message, errors.length ? errors.join('; ') : null].filter(Boolean).join(': '))}`;
  }
  if (type === 'teams' && json && typeof json.error === 'object' && json.error !== null) {
    const e = json.error as Record<string, unknown>;
    const parts = [e.code, e.message].filter((p): p is string => typeof p === 'string');
    if (parts.length) return `: ${quote(parts.join(': '))}`;
  }
  return `: ${quote(text)}`;
}

/** A result of Nodemailer's `sendMail`: what the server said of each recipient. */
export interface SmtpInfo {
  accepted?: readonly (string | { address: string })[];
  rejected?: readonly (string | { address: string })[];
  rejectedErrors?: readonly {
    message?: string;
    response?: string;
    responseCode?: number;
    recipient?: string;
  }[];
  response?: string;
}

/** Nodemailer's errors: `responseCode` when the server answered, `code` (ECONNECTION, ETIMEDOUT…) otherwise. */
interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  /** Every recipient refused (EENVELOPE): each one's own answer. */
  rejectedErrors?: readonly { responseCode?: number }[];
}

/** Nodemailer error codes that are the message itself refused, whatever the server: retrying sends the same. */
const SMTP_PERMANENT_CODES = new Set(['EENVELOPE', 'EMESSAGE', 'EREQUIRETLS']);

/**
 * The outcome of `sendMail`: its error or its info. The server's reply code decides: 5xx (550 no such user, 554
 * rejected) fails at once, 4xx (421, 450, 451) is retried, and so is no reply (ECONNECTION, ETIMEDOUT, ESOCKET,
 * EDNS…). Every recipient refused is retried when any of them was refused for now (4xx). A message the server took for
 * some recipients and refused for others is delivered, its error naming those refused; refused for all, it failed.
 */
export function interpretSmtp(result: Error | SmtpInfo): DeliveryOutcome {
  if (result instanceof Error) {
    const err = result as SmtpError;
    const code = typeof err.responseCode === 'number' ? err.responseCode : null;
    const error = code
      ? `SMTP ${code}${err.command ? ` (${err.command})` : ''}: ${quote(err.message)}`
      : `${err.code ? `${err.code}: ` : ''}${quote(err.message)}`;
    const each = (err.rejectedErrors ?? []).map((e) => e.responseCode ?? null);
    if (each.some((c) => c === null || c < 500)) return { kind: 'retry', error, retryAfter: null };
    if (code !== null && code >= 500) return { kind: 'failed', error };
    if (code === null && err.code && SMTP_PERMANENT_CODES.has(err.code)) return { kind: 'failed', error };
    return { kind: 'retry', error, retryAfter: null };
  }
  const address = (r: string | { address: string }): string => (typeof r === 'string' ? r : r.address);
  const accepted = (result.accepted ?? []).map(address);
  const rejected = (result.rejected ?? []).map(address);
  if (rejected.length === 0) return { kind: 'delivered' };
  const why = new Map<string, string>();
  for (const e of result.rejectedErrors ?? [])
    if (e.recipient) why.set(e.recipient, e.response ?? e.message ?? '');
  const refused = `refused by the SMTP server: ${rejected
    .map((r) => (why.get(r) ? `${r} (${quote(why.get(r) ?? '', 120)})` : r))
    .join(', ')}`;
  return accepted.length > 0 ? { kind: 'delivered', error: refused } : { kind: 'failed', error: refused };
}

/** A redirect target as a log may show it: no path or query (a token may be there). */
export function maskLocation(location: string): string {
  try {
    const u = new URL(location);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return 'an unreadable URL';
  }
}

function bodyText(body: HttpAttempt['body']): string {
  if (body === undefined || body === null) return '';
  return typeof body === 'string' ? body : body.toString('utf8');
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Text from elsewhere, fit for an error: one line, no control characters, at most `max` code points. */
function quote(text: string, max = QUOTE_MAX): string {
  const line = text
    .replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const points = [...line];
  return points.length <= max ? line : `${points.slice(0, max - 1).join('')}…`;
}
