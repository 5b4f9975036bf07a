import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Received {
  path: string;
  at: number;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  problems: string[];
}

/** What each vendor documents as required; a local server that records requests and the contract problems in them. */
function check(
  path: string,
  body: Record<string, unknown>,
  raw: string,
  headers: IncomingMessage['headers'],
  webhookSecret: string,
): string[] {
  const p: string[] = [];
  if (path.startsWith('/pagerduty')) {
    // PagerDuty Events API v2
    if (typeof body.routing_key !== 'string' || body.routing_key.length !== 32)
      p.push('routing_key must be a 32-character key');
    if (!['trigger', 'acknowledge', 'resolve'].includes(String(body.event_action))) p.push('event_action');
    if (typeof body.dedup_key !== 'string' || body.dedup_key.length > 255) p.push('dedup_key');
    if (body.event_action === 'trigger') {
      const payload = body.payload as Record<string, unknown> | undefined;
      if (!payload) p.push('payload is required for trigger');
      else {
        if (
          typeof payload.summary !== 'string' ||
          payload.summary.length === 0 ||
          payload.summary.length > 1024
        )
          p.push('payload.summary 1..1024');
        if (typeof payload.source !== 'string' || !payload.source) p.push('payload.source');
        if (!['critical', 'error', 'warning', 'info'].includes(String(payload.severity)))
          p.push('payload.severity');
      }
    }
  } else if (path.startsWith('/slack')) {
    // Slack incoming webhook with Block Kit
    if (typeof body.text !== 'string' || !body.text) p.push('text fallback');
    const blocks = body.blocks as Record<string, unknown>[] | undefined;
    if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > 50) p.push('blocks 1..50');
    for (const b of blocks ?? []) {
      const text = (b.text as { text?: string } | undefined)?.text;
      if (b.type === 'header' && (text ?? '').length > 150) p.push('header text <= 150');
      if (b.type === 'section' && text && text.length > 3000) p.push('section text <= 3000');
      if (b.type === 'section' && Array.isArray(b.fields) && b.fields.length > 10)
        p.push('section fields <= 10');
    }
  } else if (path.startsWith('/teams')) {
    // Teams Workflows webhook: a message with an Adaptive Card attachment
    const att = (body.attachments as Record<string, unknown>[] | undefined)?.[0];
    if (body.type !== 'message' || !att) p.push('message with attachments');
    else {
      if (att.contentType !== 'application/vnd.microsoft.card.adaptive') p.push('contentType');
      const card = att.content as Record<string, unknown>;
      if (card?.type !== 'AdaptiveCard' || !/^1\.[0-5]$/.test(String(card.version)))
        p.push('AdaptiveCard version <= 1.5');
      if (!Array.isArray(card?.body) || card.body.length === 0) p.push('card body');
    }
  } else if (path.startsWith('/hook')) {
    // Standard Webhooks: verify the signature as a receiver would
    const id = String(headers['webhook-id'] ?? '');
    const ts = String(headers['webhook-timestamp'] ?? '');
    const sig = String(headers['webhook-signature'] ?? '');
    if (!id || !/^\d+$/.test(ts)) p.push('webhook-id and webhook-timestamp');
    if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) p.push('timestamp outside tolerance');
    const expected = createHmac('sha256', Buffer.from(webhookSecret.replace(/^whsec_/, ''), 'base64'))
      .update(`${id}.${ts}.${raw}`)
      .digest();
    const given = sig.split(' ').map((s) => Buffer.from(s.replace(/^v1,/, ''), 'base64'));
    if (!given.some((g) => g.length === expected.length && timingSafeEqual(g, expected)))
      p.push('signature does not verify');
  }
  return p;
}

export class FakeVendors {
  readonly received: Received[] = [];
  readonly mails: { to: string; raw: string }[] = [];
  /** path -> list of statuses to answer in turn (then 202); with optional Retry-After. */
  readonly script = new Map<string, { status: number; retryAfter?: string }[]>();
  private server!: Server;
  private smtp!: SMTPServer;
  port = 0;
  smtpPort = 0;

  constructor(private readonly webhookSecret: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const path = req.url ?? '/';
        let body: Record<string, unknown> = {};
        const problems: string[] = [];
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          problems.push('body is not JSON');
        }
        const signed = problems.length ? problems : check(path, body, raw, req.headers, this.webhookSecret);
        const next = this.script.get(path)?.shift();
        this.received.push({ path, at: Date.now(), headers: req.headers, body, problems: signed });
        if (next) {
          res.writeHead(next.status, next.retryAfter ? { 'retry-after': next.retryAfter } : {});
          res.end('{}');
        } else {
          res.writeHead(202, { 'content-type': 'application/json' });
          res.end('{"status":"success"}');
        }
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    this.smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onAuth: (auth, _session, cb) => cb(null, { user: auth.username }),
      onData: (stream, session, cb) => {
        let raw = '';
        stream.on('data', (c: Buffer) => (raw += c.toString()));
        stream.on('end', () => {
          this.mails.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), raw });
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
    await new Promise((r) => this.server.close(r));
    await new Promise((r) => this.smtp.close(() => r(undefined)));
  }
}
