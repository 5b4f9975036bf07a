import {
  interpretResponse,
  interpretSmtp,
  maskLocation,
  type DeliveryOutcome,
  type HttpAttempt,
} from './outcome';
import type { Destination } from './types';

type Type = Destination['type'];
const ALL: Type[] = ['pagerduty', 'slack', 'teams', 'webhook'];
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const TEAMS_CONNECTOR_FAILED =
  'Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 403 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0..';

describe(interpretResponse.name, () => {
  const cases: [string, Type, HttpAttempt, DeliveryOutcome][] = [
    // PagerDuty Events v2
    [
      'PagerDuty 202 is delivered',
      'pagerduty',
      { status: 202, body: json({ status: 'success', message: 'Event processed', dedup_key: 'k' }) },
      { kind: 'delivered' },
    ],
    [
      'PagerDuty 400 fails, quoting its message and errors',
      'pagerduty',
      {
        status: 400,
        body: json({
          status: 'invalid event',
          message: 'Event object is invalid',
          errors: ["Length of 'routing_key' is incorrect (should be 32 characters)"],
        }),
      },
      {
        kind: 'failed',
        error:
          "HTTP 400: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)",
      },
    ],
    [
      'PagerDuty 400 without JSON fails, quoting the body',
      'pagerduty',
      { status: 400, body: 'bad\nrequest' },
      { kind: 'failed', error: 'HTTP 400: bad request' },
    ],
    [
      'PagerDuty 429 is retried',
      'pagerduty',
      { status: 429, body: '' },
      { kind: 'retry', error: 'HTTP 429', retryAfter: null },
    ],
    [
      'PagerDuty 500 is retried',
      'pagerduty',
      { status: 500, body: '' },
      { kind: 'retry', error: 'HTTP 500', retryAfter: null },
    ],
    [
      'PagerDuty 503 is retried',
      'pagerduty',
      { status: 503, body: '' },
      { kind: 'retry', error: 'HTTP 503', retryAfter: null },
    ],

    // Slack incoming webhooks
    ['Slack 200 ok is delivered', 'slack', { status: 200, body: 'ok' }, { kind: 'delivered' }],
    [
      'Slack 200 with another body fails',
      'slack',
      { status: 200, body: 'something else' },
      { kind: 'failed', error: 'HTTP 200 without "ok": Slack did not post the message: something else' },
    ],
    [
      'Slack 200 with no body fails',
      'slack',
      { status: 200, body: '' },
      { kind: 'failed', error: 'HTTP 200 without "ok": Slack did not post the message' },
    ],
    [
      'Slack 400 invalid_blocks fails quoting it',
      'slack',
      { status: 400, body: 'invalid_blocks' },
      { kind: 'failed', error: 'HTTP 400: invalid_blocks (Slack refused the message blocks)' },
    ],
    [
      'Slack 400 invalid_payload fails quoting it',
      'slack',
      { status: 400, body: 'invalid_payload' },
      { kind: 'failed', error: 'HTTP 400: invalid_payload (Slack could not read the message)' },
    ],
    [
      'Slack 400 no_text fails quoting it',
      'slack',
      { status: 400, body: 'no_text' },
      { kind: 'failed', error: 'HTTP 400: no_text (the message had no text)' },
    ],
    [
      'Slack 404 no_service fails quoting it',
      'slack',
      { status: 404, body: 'no_service' },
      { kind: 'failed', error: 'HTTP 404: no_service (the webhook was revoked or disabled)' },
    ],
    [
      'Slack 403 action_prohibited fails quoting it',
      'slack',
      { status: 403, body: 'action_prohibited' },
      {
        kind: 'failed',
        error: 'HTTP 403: action_prohibited (a workspace admin restricted posting to the channel)',
      },
    ],
    [
      'Slack 410 channel_is_archived fails quoting it, without disabling',
      'slack',
      { status: 410, body: 'channel_is_archived' },
      { kind: 'failed', error: 'HTTP 410: channel_is_archived (the channel is archived)' },
    ],
    [
      'Slack 400 with an error it does not explain fails quoting it',
      'slack',
      { status: 400, body: 'user_not_found' },
      { kind: 'failed', error: 'HTTP 400: user_not_found' },
    ],
    [
      'Slack 429 is retried with its Retry-After',
      'slack',
      { status: 429, body: 'rate_limited', retryAfter: '30' },
      { kind: 'retry', error: 'HTTP 429: rate_limited', retryAfter: '30' },
    ],
    [
      'Slack 500 rollup_error is retried',
      'slack',
      { status: 500, body: 'rollup_error' },
      { kind: 'retry', error: 'HTTP 500: rollup_error', retryAfter: null },
    ],

    // Microsoft Teams
    ['Teams 202 (Workflows queued it) is accepted', 'teams', { status: 202, body: '' }, { kind: 'accepted' }],
    [
      'Teams 200 (a connector posted it) is delivered',
      'teams',
      { status: 200, body: '1' },
      { kind: 'delivered' },
    ],
    [
      'Teams 200 from a retired connector fails naming the text',
      'teams',
      { status: 200, body: TEAMS_CONNECTOR_FAILED },
      { kind: 'failed', error: `HTTP 200 but Teams did not post: ${TEAMS_CONNECTOR_FAILED}` },
    ],
    [
      'Teams 200 saying the Teams endpoint returned an error fails',
      'teams',
      { status: 200, body: 'Microsoft Teams endpoint returned HTTP error 404' },
      {
        kind: 'failed',
        error: 'HTTP 200 but Teams did not post: Microsoft Teams endpoint returned HTTP error 404',
      },
    ],
    [
      'Teams 400 from a flow fails quoting its error',
      'teams',
      {
        status: 400,
        body: json({ error: { code: 'TriggerInputSchemaMismatch', message: 'did not match' } }),
      },
      { kind: 'failed', error: 'HTTP 400: TriggerInputSchemaMismatch: did not match' },
    ],
    [
      'Teams 429 is retried with its Retry-After',
      'teams',
      { status: 429, body: '', retryAfter: '1' },
      { kind: 'retry', error: 'HTTP 429', retryAfter: '1' },
    ],

    // Standard Webhooks receivers
    ['webhook 200 is delivered', 'webhook', { status: 200, body: 'whatever' }, { kind: 'delivered' }],
    ['webhook 204 is delivered', 'webhook', { status: 204 }, { kind: 'delivered' }],
    [
      'webhook 410 fails and disables the destination',
      'webhook',
      { status: 410, body: 'Gone' },
      {
        kind: 'failed',
        error: 'HTTP 410: the receiver asked not to be sent to again (Gone); destination disabled',
        disable: true,
      },
    ],
    [
      'webhook 404 fails at once, quoting nothing of the receiver',
      'webhook',
      { status: 404, body: 'tenant text' },
      { kind: 'failed', error: 'HTTP 404' },
    ],
    ['webhook 400 fails at once', 'webhook', { status: 400 }, { kind: 'failed', error: 'HTTP 400' }],
    ['webhook 401 fails at once', 'webhook', { status: 401 }, { kind: 'failed', error: 'HTTP 401' }],
    [
      'webhook 408 is retried',
      'webhook',
      { status: 408 },
      { kind: 'retry', error: 'HTTP 408', retryAfter: null },
    ],
    [
      'webhook 429 is retried with its Retry-After',
      'webhook',
      { status: 429, retryAfter: 'Wed, 21 Oct 2015 07:28:00 GMT' },
      { kind: 'retry', error: 'HTTP 429', retryAfter: 'Wed, 21 Oct 2015 07:28:00 GMT' },
    ],
    [
      'webhook 502 is retried',
      'webhook',
      { status: 502, body: 'tenant text' },
      { kind: 'retry', error: 'HTTP 502', retryAfter: null },
    ],
  ];

  it.each(cases)('%s', (_name, type, attempt, expected) => {
    expect(interpretResponse(type, attempt)).toEqual(expected);
  });

  it.each(ALL.flatMap((t) => [301, 302, 303, 307, 308].map((s) => [t, s] as const)))(
    '%s: a %i redirect is a failure, never followed, naming only the target host',
    (type, status) => {
      expect(
        interpretResponse(type, { status, location: 'https://elsewhere.example/secret/path?token=abc' }),
      ).toEqual({
        kind: 'failed',
        error: `HTTP ${status}: redirects are not followed (to https://elsewhere.example/…)`,
      });
      expect(interpretResponse(type, { status, location: null })).toEqual({
        kind: 'failed',
        error: `HTTP ${status}: redirects are not followed`,
      });
    },
  );

  it.each(ALL)('%s: no answer (timeout, refused connection, DNS) is retried', (type) => {
    expect(interpretResponse(type, { status: null, error: 'no answer within 10000 ms' })).toEqual({
      kind: 'retry',
      error: 'no answer within 10000 ms',
      retryAfter: null,
    });
    expect(interpretResponse(type, { status: null })).toEqual({
      kind: 'retry',
      error: 'no answer',
      retryAfter: null,
    });
  });

  it('quotes a long or multi-line vendor answer as one short line', () => {
    const outcome = interpretResponse('pagerduty', { status: 400, body: `a\u0000b\r\n${'x'.repeat(500)}` });
    expect(outcome.kind).toBe('failed');
    const error = (outcome as { error: string }).error;
    expect(error).toMatch(/^HTTP 400: a b x+…$/);
    expect([...error].length).toBeLessThanOrEqual('HTTP 400: '.length + 200);
  });
});

describe(interpretSmtp.name, () => {
  const smtpError = (message: string, props: Record<string, unknown>) =>
    Object.assign(new Error(message), props);
  const cases: [
    string,
    Error | Parameters<typeof interpretSmtp>[0],
    DeliveryOutcome['kind'],
    RegExp | null,
  ][] = [
    [
      'a message the server took for everyone is delivered',
      { accepted: ['a@x.example'], rejected: [] },
      'delivered',
      null,
    ],
    [
      '550 at RCPT TO for every recipient fails at once',
      smtpError(
        "Can't send mail - all recipients were rejected: 550 5.1.1 <a@x.example>: Recipient address rejected: User unknown",
        {
          code: 'EENVELOPE',
          responseCode: 550,
          command: 'RCPT TO',
          rejectedErrors: [{ responseCode: 550 }],
        },
      ),
      'failed',
      /^SMTP 550 \(RCPT TO\): Can't send mail - all recipients were rejected: 550 5\.1\.1/,
    ],
    [
      '554 at DATA fails at once',
      smtpError('Message failed: 554 5.7.1 Transaction failed: message rejected', {
        code: 'EMESSAGE',
        responseCode: 554,
        command: 'DATA',
      }),
      'failed',
      /^SMTP 554 \(DATA\): Message failed: 554 5\.7\.1/,
    ],
    [
      '535 authentication failed fails at once',
      smtpError('Invalid login: 535 5.7.8 Authentication failed', { code: 'EAUTH', responseCode: 535 }),
      'failed',
      /^SMTP 535: Invalid login/,
    ],
    [
      '421 is retried',
      smtpError('Message failed: 421 4.3.2 Service not available', {
        code: 'EMESSAGE',
        responseCode: 421,
        command: 'DATA',
      }),
      'retry',
      /^SMTP 421 \(DATA\)/,
    ],
    [
      '450 for every recipient is retried',
      smtpError("Can't send mail - all recipients were rejected: 450 4.2.1 Mailbox busy", {
        code: 'EENVELOPE',
        responseCode: 450,
        command: 'RCPT TO',
        rejectedErrors: [{ responseCode: 450 }],
      }),
      'retry',
      /^SMTP 450/,
    ],
    [
      '451 is retried',
      smtpError('Message failed: 451 4.3.0 Temporary failure', { responseCode: 451 }),
      'retry',
      /^SMTP 451/,
    ],
    [
      'every recipient refused, one only for now (450, then 550 last): retried',
      smtpError("Can't send mail - all recipients were rejected: 550 5.1.1 User unknown", {
        code: 'EENVELOPE',
        responseCode: 550,
        command: 'RCPT TO',
        rejectedErrors: [{ responseCode: 450 }, { responseCode: 550 }],
      }),
      'retry',
      /^SMTP 550/,
    ],
    [
      'ECONNREFUSED is retried',
      smtpError('connect ECONNREFUSED 127.0.0.1:25', { code: 'ESOCKET' }),
      'retry',
      /^ESOCKET: connect ECONNREFUSED/,
    ],
    [
      'ECONNECTION is retried',
      smtpError('Connection closed unexpectedly', { code: 'ECONNECTION' }),
      'retry',
      /^ECONNECTION/,
    ],
    ['ETIMEDOUT is retried', smtpError('Connection timeout', { code: 'ETIMEDOUT' }), 'retry', /^ETIMEDOUT/],
    ['EDNS is retried', smtpError('getaddrinfo ENOTFOUND smtp.example', { code: 'EDNS' }), 'retry', /^EDNS/],
    ['an error with no code is retried', new Error('socket hang up'), 'retry', /^socket hang up$/],
    [
      'a message refused before any reply fails',
      smtpError('No recipients defined', { code: 'EENVELOPE' }),
      'failed',
      /No recipients defined/,
    ],
  ];

  it.each(cases)('%s', (_name, result, kind, error) => {
    const outcome = interpretSmtp(result);
    expect(outcome.kind).toBe(kind);
    if (error) expect((outcome as { error: string }).error).toMatch(error);
    if (kind === 'retry') expect(outcome).toMatchObject({ retryAfter: null });
  });

  it('delivers a message some recipients refused, naming them and why', () => {
    expect(
      interpretSmtp({
        accepted: ['ok@x.example'],
        rejected: ['gone@x.example', { address: 'busy@x.example' }],
        rejectedErrors: [
          {
            recipient: 'gone@x.example',
            response: '550 5.1.1 <gone@x.example>: Recipient address rejected: User unknown',
          },
        ],
      }),
    ).toEqual({
      kind: 'delivered',
      error:
        'refused by the SMTP server: gone@x.example (550 5.1.1 <gone@x.example>: Recipient address rejected: User unknown), busy@x.example',
    });
  });

  it('fails a message every recipient refused', () => {
    expect(interpretSmtp({ accepted: [], rejected: ['a@x.example', 'b@x.example'] })).toEqual({
      kind: 'failed',
      error: 'refused by the SMTP server: a@x.example, b@x.example',
    });
  });
});

describe(maskLocation.name, () => {
  it('keeps the scheme and host only', () => {
    expect(maskLocation('http://127.0.0.1:8080/hook-redirected?t=1')).toBe('http://127.0.0.1:8080/…');
    expect(maskLocation('/relative')).toBe('an unreadable URL');
  });
});
