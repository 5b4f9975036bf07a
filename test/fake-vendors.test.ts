import { createHmac } from 'node:crypto';
import { createTransport } from 'nodemailer';
import { FakeVendors, type Preset } from './support/fake-vendors';

/** The fake vendors on their own: no stack, plain fetch and nodemailer. */
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';

describe('fake vendors answer as the vendors do', () => {
  const vendors = new FakeVendors(SECRET);
  beforeAll(() => vendors.start());
  afterAll(() => vendors.stop());
  beforeEach(() => vendors.clear());

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(vendors.url(path), {
      method: 'POST',
      redirect: 'manual', // as the router sends: a redirect is an answer, not followed
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  const last = () => vendors.received[vendors.received.length - 1];

  describe('PagerDuty Events API v2', () => {
    const trigger = (over: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) => ({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'incident-1',
      payload: {
        summary: 'research-agent spent $409 today',
        source: 'burnrate/team/research-agent',
        severity: 'critical',
        timestamp: '2026-06-09T12:00:00.000Z',
        ...payload,
      },
      links: [{ href: 'https://burnrate.example/incidents/1', text: 'burnrate' }],
      ...over,
    });

    it('accepts a valid trigger with 202 and PagerDuty’s success body', async () => {
      const res = await post('/pagerduty', trigger());
      expect(res.status).toBe(202);
      expect(JSON.parse(res.text)).toEqual({
        status: 'success',
        message: 'Event processed',
        dedup_key: 'incident-1',
      });
      expect(last()).toMatchObject({ path: '/pagerduty', status: 202, problems: [] });
      expect(last().raw).toBe(JSON.stringify(trigger()));
      expect(vendors.alertState('incident-1')).toBe('triggered');
    });

    it('makes up a dedup_key for a trigger without one', async () => {
      const res = await post('/pagerduty', trigger({ dedup_key: undefined }));
      expect(res.status).toBe(202);
      expect(JSON.parse(res.text).dedup_key).toMatch(/^[0-9a-f]{32}$/);
    });

    it.each<[string, unknown, string]>([
      ['a short routing_key', trigger({ routing_key: 'short' }), "Length of 'routing_key' is incorrect"],
      ['an unknown event_action', trigger({ event_action: 'snooze' }), "'event_action' is invalid"],
      ['a dedup_key over 255', trigger({ dedup_key: 'k'.repeat(256) }), "'dedup_key' is too long"],
      [
        'a resolve without dedup_key',
        { routing_key: ROUTING_KEY, event_action: 'resolve' },
        "'dedup_key' is missing or blank",
      ],
      ['a trigger without payload', trigger({ payload: undefined }), "'payload' is missing or blank"],
      ['an empty summary', trigger({}, { summary: '' }), "'payload.summary' is missing or blank"],
      ['a summary over 1024', trigger({}, { summary: 's'.repeat(1025) }), "'payload.summary' is too long"],
      ['no source', trigger({}, { source: '' }), "'payload.source' is missing or blank"],
      ['an unknown severity', trigger({}, { severity: 'high' }), "'payload.severity' is invalid"],
      ['a timestamp not ISO 8601', trigger({}, { timestamp: 'yesterday' }), "'payload.timestamp' is invalid"],
      ['a link without href', trigger({ links: [{ href: '', text: 'x' }] }), "'links[0].href' is missing"],
      ['links not an array', trigger({ links: { href: 'https://x' } }), "'links' must be an array"],
      ['an image without src', trigger({ images: [{ href: 'https://x' }] }), "'images[0].src' is missing"],
      ['a body that is not JSON', 'routing_key=x', 'body is not a JSON object'],
    ])('answers %s with 400 invalid event', async (_name, body, error) => {
      const res = await post('/pagerduty', body);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      const answer = JSON.parse(res.text) as { status: string; message: string; errors: string[] };
      expect(answer).toMatchObject({ status: 'invalid event', message: 'Event object is invalid' });
      expect(answer.errors.some((e) => e.includes(error))).toBe(true);
      expect(last().status).toBe(400);
      expect(last().problems).toEqual(answer.errors);
    });

    it('records a resolve (or acknowledge) of an alert never triggered, which PagerDuty accepts and drops', async () => {
      const resolve = { routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'never-opened' };
      const res = await post('/pagerduty', resolve);
      expect(res.status).toBe(202);
      expect(last().problems).toEqual(['resolve for an alert never triggered']);
      await post('/pagerduty', { ...resolve, event_action: 'acknowledge' });
      expect(last().problems).toEqual(['acknowledge for an alert never triggered']);
      expect(vendors.alertState('never-opened')).toBeUndefined();

      // the same dedup_key under another routing key is another alert
      await post('/pagerduty', trigger({ dedup_key: 'opened' }));
      await post('/pagerduty', { ...resolve, dedup_key: 'opened', routing_key: 'X'.repeat(32) });
      expect(last().problems).toEqual(['resolve for an alert never triggered']);

      await post('/pagerduty', { ...resolve, dedup_key: 'opened', event_action: 'acknowledge' });
      expect(last().problems).toEqual([]);
      expect(vendors.alertState('opened', ROUTING_KEY)).toBe('acknowledged');
      await post('/pagerduty', { ...resolve, dedup_key: 'opened' });
      expect(last().problems).toEqual([]);
      expect(vendors.alertState('opened', ROUTING_KEY)).toBe('resolved');
      await post('/pagerduty', { ...resolve, dedup_key: 'opened' });
      expect(last()).toMatchObject({ status: 202, problems: ['resolve for an alert already resolved'] });
    });
  });

  describe('Slack incoming webhook', () => {
    const message = (blocks: unknown[]) => ({ text: 'fallback', blocks });
    const header = (text: string) => ({ type: 'header', text: { type: 'plain_text', text } });
    const section = (text: string) => ({ type: 'section', text: { type: 'plain_text', text } });
    const fields = (n: number, len = 10) => ({
      type: 'section',
      fields: Array.from({ length: n }, () => ({ type: 'mrkdwn', text: 'f'.repeat(len) })),
    });
    const button = (text = 'Open', url: unknown = 'https://burnrate.example/incidents/1') => ({
      type: 'button',
      text: { type: 'plain_text', text },
      url,
    });
    const actions = (...elements: unknown[]) => ({ type: 'actions', elements });

    it('accepts a valid message with 200 ok (plain text)', async () => {
      const res = await post(
        '/slack',
        message([header('CRITICAL'), section('summary'), fields(10, 2000), actions(button())]),
      );
      expect(res).toMatchObject({ status: 200, text: 'ok' });
      expect(last()).toMatchObject({ status: 200, response: 'ok', problems: [] });
      expect((await post('/slack', { text: 'just text' })).status).toBe(200);
    });

    it.each<[string, unknown, string]>([
      ['no text and no blocks', { username: 'x' }, 'no_text'],
      ['a body that is not JSON', 'payload=x', 'invalid_payload'],
      ['51 blocks', message(Array.from({ length: 51 }, () => section('s'))), 'invalid_blocks'],
      ['a header over 150', message([header('h'.repeat(151))]), 'invalid_blocks'],
      [
        'a mrkdwn header',
        message([{ type: 'header', text: { type: 'mrkdwn', text: 'h' } }]),
        'invalid_blocks',
      ],
      ['a section text over 3000', message([section('s'.repeat(3001))]), 'invalid_blocks'],
      ['11 section fields', message([fields(11)]), 'invalid_blocks'],
      ['a field over 2000', message([fields(1, 2001)]), 'invalid_blocks'],
      [
        '26 action elements',
        message([actions(...Array.from({ length: 26 }, () => button()))]),
        'invalid_blocks',
      ],
      ['a button text over 75', message([actions(button('b'.repeat(76)))]), 'invalid_blocks'],
      [
        'a button url over 3000',
        message([actions(button('b', `https://x/${'u'.repeat(3000)}`))]),
        'invalid_blocks',
      ],
      ['a button with an empty url', message([actions(button('b', ''))]), 'invalid_blocks'],
      ['an unknown block type', message([{ type: 'banner' }]), 'invalid_blocks'],
    ])('answers %s with 400 and Slack’s error', async (_name, body, error) => {
      const res = await post('/slack', body);
      expect(res).toMatchObject({ status: 400, text: error });
      expect(last().status).toBe(400);
      expect(last().problems.length).toBeGreaterThan(0);
    });
  });

  describe('Teams Workflows webhook', () => {
    const card = (content: Record<string, unknown> = {}, over: Record<string, unknown> = {}) => ({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            type: 'AdaptiveCard',
            version: '1.4',
            body: [
              { type: 'TextBlock', text: 'CRITICAL', wrap: true },
              { type: 'FactSet', facts: [{ title: 'Agent', value: 'research-agent' }] },
            ],
            actions: [{ type: 'Action.OpenUrl', title: 'Open', url: 'https://burnrate.example/incidents/1' }],
            ...content,
          },
        },
      ],
      ...over,
    });

    it('accepts a valid card with 202 and no body', async () => {
      const res = await post('/teams', card());
      expect(res).toMatchObject({ status: 202, text: '' });
      expect(last()).toMatchObject({ status: 202, problems: [] });
      expect((await post('/teams', card({ version: '1.5' }))).status).toBe(202);
    });

    it.each<[string, unknown, string]>([
      ['version 1.6', card({ version: '1.6' }), 'version must be 1.0..1.5'],
      ['a MessageCard', card({}, { type: 'MessageCard' }), "type must be 'message'"],
      [
        'another contentType',
        { type: 'message', attachments: [{ contentType: 'application/json', content: {} }] },
        'contentType',
      ],
      ['no attachments', { type: 'message', attachments: [] }, 'attachments must be a non-empty array'],
      ['an empty body', card({ body: [] }), 'body must be a non-empty array'],
      [
        'an OpenUrl without url',
        card({ actions: [{ type: 'Action.OpenUrl', title: 'x', url: '' }] }),
        'url must be a URL',
      ],
      [
        'a message over 28 KB',
        card({ body: [{ type: 'TextBlock', text: 'x'.repeat(29 * 1024) }] }),
        'the limit is 28 KB',
      ],
    ])('answers %s with 400', async (_name, body, error) => {
      const res = await post('/teams', body);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).error.message).toContain(error);
      expect(last().problems.join('\n')).toContain(error);
    });
  });

  describe('Standard Webhooks receiver', () => {
    const sign = (id: Buffer, ts: number, body: string, secret = SECRET) =>
      `v1,${createHmac('sha256', Buffer.from(secret.replace(/^whsec_/, ''), 'base64'))
        .update(Buffer.concat([id, Buffer.from(`.${ts}.${body}`)]))
        .digest('base64')}`;
    const event = (agent = 'research-agent') =>
      JSON.stringify({
        type: 'anomaly.firing',
        timestamp: new Date().toISOString(),
        data: { agent_id: agent, team: 'team-a' },
      });
    /** Header values travel as bytes: a non-ASCII id goes as its UTF-8 bytes. */
    const send = (
      path: string,
      o: { id?: string; ts?: number; body?: string; secret?: string; signature?: string } = {},
    ) => {
      const id = Buffer.from(o.id ?? 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', 'utf8');
      const ts = o.ts ?? Math.floor(Date.now() / 1000);
      const body = o.body ?? event();
      return post(path, body, {
        'webhook-id': id.toString('latin1'),
        'webhook-timestamp': String(ts),
        'webhook-signature': o.signature ?? sign(id, ts, body, o.secret),
      });
    };

    it('accepts a verified delivery with 204', async () => {
      const res = await send('/hook');
      expect(res.status).toBe(204);
      expect(last()).toMatchObject({ status: 204, problems: [] });
      // several signatures, one verifies (a rotated secret)
      const ts = Math.floor(Date.now() / 1000);
      const body = event();
      const id = Buffer.from('msg_rotated');
      const both = `v1,${Buffer.alloc(32).toString('base64')} ${sign(id, ts, body)}`;
      expect((await send('/hook', { id: 'msg_rotated', ts, body, signature: both })).status).toBe(204);
    });

    it.each<[string, Parameters<typeof send>[1], string]>([
      ['a wrong secret', { secret: 'whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==' }, 'does not verify'],
      ['a timestamp 6 minutes old', { ts: Math.floor(Date.now() / 1000) - 360 }, 'outside the 5-minute'],
      ['an id with a dot', { id: 'msg.1' }, 'must not contain dots or whitespace'],
      ['an id with a space', { id: 'msg 1' }, 'must not contain dots or whitespace'],
      ['no signature', { signature: '' }, 'webhook-signature is missing'],
      ['only a v1a signature', { signature: 'v1a,AAAA' }, 'does not verify'],
    ])('answers %s with 400', async (_name, o, error) => {
      const res = await send('/hook', o);
      expect(res.status).toBe(400);
      expect(res.text).toContain(error);
      expect(last().problems.join('\n')).toContain(error);
    });

    it('flags a webhook-id that is not ASCII or carries tenant text, even though it verifies', async () => {
      const res = await send('/hook', { id: 'msg_エージェント-1', body: event('エージェント-1') });
      expect(res.status).toBe(400);
      expect(last().problems).toEqual([
        'webhook-id must be printable ASCII',
        'webhook-id carries tenant text',
      ]);
      await send('/hook', { id: 'msg_research-agent_1' });
      expect(last().problems).toEqual(['webhook-id carries tenant text']);
    });
  });

  describe('scripted failures', () => {
    const valid: Record<string, () => Promise<{ status: number; headers: Headers; text: string }>> = {
      '/slack': () => post('/slack', { text: 'hi' }),
      '/pagerduty': () =>
        post('/pagerduty', {
          routing_key: ROUTING_KEY,
          event_action: 'trigger',
          payload: { summary: 's', source: 'x', severity: 'info' },
        }),
      '/teams': () =>
        post('/teams', {
          type: 'message',
          attachments: [
            {
              contentType: 'application/vnd.microsoft.card.adaptive',
              content: { type: 'AdaptiveCard', version: '1.4', body: [{ type: 'TextBlock', text: 'x' }] },
            },
          ],
        }),
    };
    const cases: [Preset, string, number, string | RegExp, Record<string, string | RegExp>, number][] = [
      ['slack_invalid_blocks', '/slack', 400, 'invalid_blocks', {}, 200],
      ['slack_channel_is_archived', '/slack', 410, 'channel_is_archived', {}, 200],
      ['slack_action_prohibited', '/slack', 403, 'action_prohibited', {}, 200],
      ['slack_no_service', '/slack', 404, 'no_service', {}, 200],
      ['slack_rate_limited', '/slack', 429, 'rate_limited', { 'retry-after': '1' }, 200],
      ['pagerduty_invalid', '/pagerduty', 400, /"status":"invalid event"/, {}, 202],
      ['pagerduty_rate_limited', '/pagerduty', 429, '', {}, 202],
      ['server_error', '/pagerduty', 500, '', {}, 202],
      ['server_error', '/slack', 500, 'rollup_error', {}, 200],
      [
        'teams_connector_failed',
        '/teams',
        200,
        /^Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 403/,
        {},
        202,
      ],
      ['teams_rate_limited', '/teams', 429, '', { 'retry-after': '1' }, 202],
      ['webhook_gone', '/hook', 410, 'Gone', {}, 204],
      [
        'webhook_redirect',
        '/hook',
        307,
        '',
        { location: /^http:\/\/127\.0\.0\.1:\d+\/hook-redirected$/ },
        204,
      ],
      ['server_error', '/hook', 500, '', {}, 204],
    ];

    it.each(cases)(
      '%s on %s answers %i once, then the vendor’s own answer',
      async (preset, path, status, body, headers, then) => {
        const go = async () => {
          if (valid[path]) return valid[path]();
          const ts = Math.floor(Date.now() / 1000);
          const raw = JSON.stringify({ type: 'ping', timestamp: new Date().toISOString(), data: {} });
          const key = Buffer.from(SECRET.slice(6), 'base64');
          const sig = createHmac('sha256', key).update(`msg_1.${ts}.${raw}`).digest('base64');
          return post(path, raw, {
            'webhook-id': 'msg_1',
            'webhook-timestamp': String(ts),
            'webhook-signature': `v1,${sig}`,
          });
        };
        vendors.fail(path, preset);
        const res = await go();
        expect(res.status).toBe(status);
        if (typeof body === 'string') expect(res.text).toBe(body);
        else expect(res.text).toMatch(body);
        for (const [h, v] of Object.entries(headers))
          if (typeof v === 'string') expect(res.headers.get(h)).toBe(v);
          else expect(res.headers.get(h)).toMatch(v);
        expect(last()).toMatchObject({ status, problems: [] });
        expect((await go()).status).toBe(then);
      },
    );

    it('answers a preset as many times as asked, and keeps script.set working', async () => {
      vendors.fail('/slack', 'slack_channel_is_archived', 2);
      expect([(await valid['/slack']()).status, (await valid['/slack']()).status]).toEqual([410, 410]);
      expect((await valid['/slack']()).status).toBe(200);

      vendors.script.set('/slack', [
        { status: 429, retryAfter: '2' },
        { status: 503, body: 'down' },
      ]);
      const limited = await valid['/slack']();
      expect([limited.status, limited.headers.get('retry-after'), limited.text]).toEqual([
        429,
        '2',
        'rate_limited',
      ]);
      expect(await valid['/slack']()).toMatchObject({ status: 503, text: 'down' });
      expect((await valid['/slack']()).status).toBe(200);
    });

    it('answers a GET with 405', async () => {
      const res = await fetch(vendors.url('/slack'));
      expect(res.status).toBe(405);
      expect(last().problems).toEqual(['method GET not allowed; POST']);
    });

    it('answers a scripted status even to a request the vendor would refuse, and records the problems', async () => {
      vendors.fail('/pagerduty', 'pagerduty_rate_limited');
      const res = await post('/pagerduty', { event_action: 'trigger' });
      expect(res.status).toBe(429);
      expect(last().problems).toContain("'routing_key' is missing or blank");
    });
  });

  describe('SMTP', () => {
    const transport = () =>
      createTransport({
        host: '127.0.0.1',
        port: vendors.smtpPort,
        secure: false,
        ignoreTLS: true,
        auth: { user: 'alerts', pass: 's3cr3t-smtp' },
      });
    const mail = (to: string | string[]) => ({
      from: 'burnrate <alerts@burnrate.example>',
      to,
      subject: '[burnrate] CRITICAL: エージェント-1 — spend zscore',
      text: 'spend',
      messageId: '<incident-1.2@burnrate.example>',
      inReplyTo: '<incident-1@burnrate.example>',
      references: ['<incident-1@burnrate.example>'],
      headers: { 'Auto-Submitted': 'auto-generated' },
    });

    it('records a message with its threading headers read', async () => {
      const info = await transport().sendMail(mail('oncall@example.com'));
      expect(info.response).toMatch(/^250 /);
      expect(vendors.mails).toHaveLength(1);
      const m = vendors.mails[0];
      expect(m).toMatchObject({ to: 'oncall@example.com', from: 'alerts@burnrate.example' });
      expect(m.headers).toMatchObject({
        'message-id': '<incident-1.2@burnrate.example>',
        'in-reply-to': '<incident-1@burnrate.example>',
        references: '<incident-1@burnrate.example>',
        'auto-submitted': 'auto-generated',
        subject: '[burnrate] CRITICAL: エージェント-1 — spend zscore',
      });
      expect(m.raw).toContain('Auto-Submitted: auto-generated');
    });

    it.each<[550 | 450, RegExp]>([
      [550, /^550 5\.1\.1/],
      [450, /^450 4\.2\.1/],
    ])('refuses a recipient with %i', async (code, reply) => {
      vendors.smtpReject('gone@example.com', code);
      await expect(transport().sendMail(mail('gone@example.com'))).rejects.toMatchObject({
        responseCode: code,
        response: expect.stringMatching(reply),
      });
      // another recipient of the same message still gets it
      const info = await transport().sendMail(mail(['gone@example.com', 'oncall@example.com']));
      expect(info.rejected).toEqual(['gone@example.com']);
      expect(vendors.mails.map((m) => m.to)).toEqual(['oncall@example.com']);
      expect(vendors.smtpRejections.map((r) => [r.code, r.stage])).toEqual([
        [code, 'rcpt'],
        [code, 'rcpt'],
      ]);
      vendors.smtpAccept('gone@example.com');
      await transport().sendMail(mail('gone@example.com'));
      expect(vendors.mails).toHaveLength(2);
    });

    it.each<[554 | 421, RegExp]>([
      [554, /^554 5\.7\.1/],
      [421, /^421 4\.3\.2/],
    ])('refuses the message at DATA with %i', async (code, reply) => {
      vendors.smtpReject('oncall@example.com', code, 1);
      await expect(transport().sendMail(mail('oncall@example.com'))).rejects.toMatchObject({
        responseCode: code,
        response: expect.stringMatching(reply),
      });
      expect(vendors.mails).toHaveLength(0);
      expect(vendors.smtpRejections).toMatchObject([{ address: 'oncall@example.com', code, stage: 'data' }]);
      await transport().sendMail(mail('oncall@example.com')); // once only
      expect(vendors.mails).toHaveLength(1);
    });
  });
});
