import {
  LIMITS,
  PAGERDUTY_DEDUP_KEY_MAX,
  buildRequest,
  codePoints,
  emailContent,
  escapeSlackMrkdwn,
  escapeTeamsMarkdown,
  facts,
  pagerDutyDedupKey,
  signWebhook,
  truncate,
  type MessageContext,
} from './messages';
import type { Anomaly, Destination } from './types';

const ctx: MessageContext = {
  link: 'https://burnrate.example/incidents/inc_1',
  deliveryId: 'msg_1',
  incidentKey: 'inc_1',
  action: 'trigger',
  signals: [],
  now: 1_760_000_000_000,
  pagerDutyUrl: 'https://events.pagerduty.com/v2/enqueue',
};

const hostile = '<!channel> *boss* _x_ ~y~ `z` <https://evil.example|click> & [here](https://evil.example)';

const anomaly = (over: Partial<Anomaly> = {}): Anomaly =>
  ({
    anomaly_id: 'a-1',
    dedupe_key: 'spend_zscore|support|research-agent||2026-01-01T00:00:00.000Z',
    rule: 'spend_zscore',
    severity: 'critical',
    state: 'firing',
    team: 'support',
    agent_id: hostile,
    observed: 409_000_000_000,
    baseline_mean: null,
    baseline_stddev: null,
    zscore: null,
    currency: 'USD',
    cost_per_run_before_nanos: null,
    cost_per_run_now_nanos: null,
    top_customers: [{ name: '<@U024BE7LH> **acme**', spend_nanos: 1e9 }],
    top_features: [{ name: '# heading\n- item\n1. first', spend_nanos: 1e9 }],
    summary: `${hostile} spent $409 today`,
    started_at: 1_760_000_000_000,
    detected_at: 1_760_000_000_000,
    late: false,
    details: {},
    incident_id: 'inc_3f2a9c1d00112233445566778899aabb',
    incident_action: 'open',
    incident_signals: 1,
    ...over,
  }) as Anomaly;

describe(pagerDutyDedupKey.name, () => {
  it('keeps a short key as it is', () => {
    expect(pagerDutyDedupKey('spend_zscore|support|a||2026')).toBe('spend_zscore|support|a||2026');
  });

  it('fits a long key in 255 characters, the same every time, distinct per key', () => {
    const long = `spend_zscore|support|${'a'.repeat(400)}||2026-01-01`;
    const key = pagerDutyDedupKey(long);
    expect(key).toHaveLength(PAGERDUTY_DEDUP_KEY_MAX);
    expect(key.startsWith('spend_zscore|support|aaa')).toBe(true);
    expect(key).toMatch(/~[0-9a-f]{64}$/);
    expect(pagerDutyDedupKey(long)).toBe(key);
    expect(pagerDutyDedupKey(`${long}x`)).not.toBe(key);
  });

  it('gives the trigger and the resolve of one incident the same dedup_key', () => {
    const a = anomaly({ dedupe_key: `spend_zscore|support|${'b'.repeat(300)}|` });
    const pd = { type: 'pagerduty' as const, routing_key: 'R0UT1NGKEY0123456789abcdefABCDEF' };
    const long = { ...ctx, incidentKey: `inc_${'c'.repeat(300)}` };
    const trigger = JSON.parse(buildRequest(pd, a, long).body) as { dedup_key: string };
    const resolve = JSON.parse(
      buildRequest(pd, { ...a, state: 'resolved' }, { ...long, action: 'resolve', signals: [a] }).body,
    ) as {
      dedup_key: string;
      event_action: string;
    };
    expect(resolve.event_action).toBe('resolve');
    expect(trigger.dedup_key).toBe(resolve.dedup_key);
    expect(trigger.dedup_key.length).toBeLessThanOrEqual(255);
  });
});

describe(escapeSlackMrkdwn.name, () => {
  it('leaves no control sequence and no formatting marker a word can reach', () => {
    const out = escapeSlackMrkdwn(hostile);
    expect(out).not.toMatch(/[<>]/);
    expect(out).toContain('&lt;!channel&gt;');
    expect(out).toContain('&amp;');
    expect(out).not.toMatch(/[^\u200B][*_~`]|[*_~`][^\u200B]/);
  });

  it('puts tenant strings in a Slack message only as plain text or escaped mrkdwn', () => {
    const body = JSON.parse(
      buildRequest({ type: 'slack', webhook_url: 'https://hooks.slack.com/services/T/B/X' }, anomaly(), ctx)
        .body,
    ) as {
      text: string;
      blocks: {
        type: string;
        text?: { type: string; text: string };
        fields?: { type: string; text: string }[];
      }[];
    };
    expect(body.text).not.toMatch(/<!channel>|<https:/);
    const texts = body.blocks.flatMap((b) => [...(b.text ? [b.text] : []), ...(b.fields ?? [])]);
    for (const t of texts.filter((t) => t.type === 'mrkdwn')) expect(t.text).not.toMatch(/<[!@#]|<https?:/);
    expect(texts.filter((t) => t.text.includes('<!channel>')).every((t) => t.type === 'plain_text')).toBe(
      true,
    );
    expect(JSON.stringify(body)).not.toContain('<@U024BE7LH>');
  });
});

describe(escapeTeamsMarkdown.name, () => {
  it('escapes what would make links, emphasis, code, headings and lists', () => {
    expect(escapeTeamsMarkdown('[here](https://evil.example) **b** _i_ `c` <at>x</at>')).toBe(
      '\\[here\\]\\(https://evil.example\\) \\*\\*b\\*\\* \\_i\\_ \\`c\\` \\<at\\>x\\</at\\>',
    );
    expect(escapeTeamsMarkdown('# h\n- item\n 1. first\nresearch-agent 0.12')).toBe(
      '\\# h\n\\- item\n 1\\. first\nresearch-agent 0.12',
    );
  });

  it('escapes every tenant string in a Teams card', () => {
    const body = buildRequest(
      { type: 'teams', webhook_url: 'https://x.webhook.office.com/y' },
      anomaly(),
      ctx,
    ).body;
    expect(body).not.toMatch(/[^\\]\[here\]/);
    expect(body).not.toMatch(/[^\\]\*\*acme/);
    expect(body).toContain('\\\\[here\\\\]');
  });
});

const SLACK = { type: 'slack' as const, webhook_url: 'https://hooks.slack.com/services/T/B/X' };
const TEAMS = { type: 'teams' as const, webhook_url: 'https://x.webhook.office.com/y' };
const PD = { type: 'pagerduty' as const, routing_key: 'R0UT1NGKEY0123456789abcdefABCDEF' };
const HOOK = {
  type: 'webhook' as const,
  url: 'https://hooks.example/burnrate',
  secret: 'whsec_c2VjcmV0LXNlY3JldA==',
};
const HTTP: Exclude<Destination, { type: 'email' }>[] = [SLACK, TEAMS, PD, HOOK];

/** Every string anywhere in a parsed JSON value. */
const strings = (v: unknown): string[] =>
  typeof v === 'string'
    ? [v]
    : Array.isArray(v)
      ? v.flatMap(strings)
      : v && typeof v === 'object'
        ? Object.values(v).flatMap(strings)
        : [];

/** An incident of three signals about one agent: a spend jump that escalates, a loop, both cleared. */
function incident(agent: string | null = 'research-agent'): Anomaly[] {
  const base = { agent_id: agent, incident_id: 'inc_3f2a9c1d00112233445566778899aabb' };
  return [
    anomaly({
      ...base,
      anomaly_id: 's1',
      dedupe_key: 'k-spend',
      severity: 'warning',
      summary: 'spend up 4x',
    }),
    anomaly({
      ...base,
      anomaly_id: 's2',
      dedupe_key: 'k-loop',
      rule: 'run_rate_loop',
      severity: 'error',
      summary: 'runs loop',
      incident_action: 'update',
      incident_signals: 2,
    }),
    anomaly({
      ...base,
      anomaly_id: 's3',
      dedupe_key: 'k-spend',
      severity: 'critical',
      state: 'escalated',
      summary: 'spend up 9x',
      incident_action: 'update',
      incident_signals: 2,
    }),
    anomaly({
      ...base,
      anomaly_id: 's4',
      dedupe_key: 'k-loop',
      rule: 'run_rate_loop',
      severity: 'info',
      state: 'resolved',
      summary: 'runs back to normal',
      incident_action: 'update',
      incident_signals: 1,
    }),
    anomaly({
      ...base,
      anomaly_id: 's5',
      dedupe_key: 'k-spend',
      severity: 'info',
      state: 'resolved',
      summary: 'spend back to baseline',
      incident_action: 'resolve',
      incident_signals: 0,
    }),
  ];
}

const resolveCtx = (signals: Anomaly[]): MessageContext => ({
  ...ctx,
  deliveryId: 'msg_resolve',
  action: 'resolve',
  signals,
});

describe(truncate.name, () => {
  it('keeps what fits and cuts on code points, ending with …', () => {
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('abcd', 3)).toBe('ab…');
    expect(truncate('', 5)).toBe('');
    expect(truncate('abc', 0)).toBe('');
    // 3 emoji are 6 UTF-16 units but 3 code points: they fit
    expect(truncate('😀😀😀', 3)).toBe('😀😀😀');
  });

  it('never splits a surrogate pair (2,000 emoji to every limit)', () => {
    const emoji = '🔥'.repeat(2000);
    for (const max of [1, 2, 149, 150, 1024, 1999, 2000, 3000]) {
      const out = truncate(emoji, max);
      expect(codePoints(out)).toBeLessThanOrEqual(max);
      expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
      expect(Buffer.from(out, 'utf8').toString('utf8')).toBe(out); // a lone surrogate would not survive UTF-8
      if (max < 2000) expect(out.endsWith('…')).toBe(true);
    }
    expect(truncate(emoji, 150)).toBe(`${'🔥'.repeat(149)}…`);
  });

  it('never splits an emoji sequence or a flag', () => {
    const family = '👨‍👩‍👧'; // 5 code points
    expect(truncate(`${family}${family}`, 8)).toBe(`${family}…`);
    expect(truncate('🇯🇵🇯🇵🇯🇵', 4)).toBe('🇯🇵…');
  });
});

describe('every destination, for a hostile Unicode agent', () => {
  const agent = 'エージェント-1 🔥 <!channel> *x*';
  const a = anomaly({ agent_id: agent, summary: `${agent} spent <!here> ${'💸'.repeat(5000)}` });
  const contexts: MessageContext[] = [
    ctx,
    { ...ctx, action: 'update', deliveryId: 'msg_update' },
    resolveCtx([...incident(agent), a]),
  ];

  it('puts no tenant text and nothing above U+00FF in a header', () => {
    for (const c of contexts)
      for (const d of HTTP) {
        const req = buildRequest(d, a, c);
        for (const [k, v] of Object.entries(req.headers)) {
          expect(`${k}: ${v}`).toMatch(/^[\x20-\xFF]*$/);
          expect(v).not.toContain('エージェント');
          expect(v).not.toContain('channel');
          new Headers({ [k]: v }); // a ByteString, as fetch and undici require
        }
      }
    const mail = emailContent(a, ctx);
    for (const v of [mail.messageId, ...Object.values(mail.headers)]) {
      expect(v).toMatch(/^[\x20-\x7E]*$/);
      expect(v).not.toContain('エージェント');
    }
  });

  it('sends JSON bodies that parse, with no live mention and within the vendors limits', () => {
    for (const c of contexts) {
      const slack = JSON.parse(buildRequest(SLACK, a, c).body) as {
        text: string;
        blocks: {
          type: string;
          text?: { type: string; text: string };
          fields?: { type: string; text: string }[];
        }[];
      };
      expect(codePoints(slack.text)).toBeLessThanOrEqual(LIMITS.slackText);
      expect(slack.text).not.toMatch(/<!/);
      expect(slack.blocks.length).toBeLessThanOrEqual(50);
      for (const b of slack.blocks) {
        if (b.type === 'header') expect(codePoints(b.text!.text)).toBeLessThanOrEqual(150);
        if (b.text) expect(codePoints(b.text.text)).toBeLessThanOrEqual(3000);
        if (b.text && b.text.type === 'mrkdwn') expect(b.text.text).not.toMatch(/<[!@#]/);
        expect((b.fields ?? []).length).toBeLessThanOrEqual(10);
        for (const field of b.fields ?? []) {
          expect(codePoints(field.text)).toBeLessThanOrEqual(2000);
          expect(field.text).not.toMatch(/<[!@#]|<https?:/);
        }
      }
      expect(slack.blocks[0].text!.text).toContain('エージェント-1 🔥');

      const teams = JSON.parse(buildRequest(TEAMS, a, c).body) as unknown;
      for (const t of strings(teams)) expect(t).not.toMatch(/(^|[^\\])<!channel>/);
      expect(JSON.stringify(teams)).toContain('エージェント-1');

      const pd = JSON.parse(buildRequest(PD, a, c).body) as {
        event_action: string;
        payload?: { summary: string; source: string; component?: string; group: string; class: string };
      };
      if (pd.payload) {
        expect(codePoints(pd.payload.summary)).toBeLessThanOrEqual(1024);
        expect(pd.payload.summary).toContain('エージェント-1');
        for (const v of [pd.payload.source, pd.payload.component ?? '', pd.payload.group, pd.payload.class])
          expect(codePoints(v)).toBeLessThanOrEqual(255);
      }

      const hook = JSON.parse(buildRequest(HOOK, a, c).body) as { data: Anomaly };
      expect(hook.data.agent_id).toBe(agent); // machines get the record as it is

      for (const t of [...strings(slack), ...strings(teams), ...strings(pd)])
        expect(t).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    }
  });

  it('escapes tenant text in the email html and keeps its subject to one line', () => {
    const mail = emailContent(
      anomaly({
        agent_id: 'エージェント-1\r\nBcc: victim@example.com <script>',
        summary: '<img src=x onerror=alert(1)>',
      }),
      ctx,
    );
    expect(mail.html).not.toMatch(/<script|<img/);
    expect(mail.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(mail.subject).not.toMatch(/[\r\n]/);
    expect(codePoints(mail.subject)).toBeLessThanOrEqual(LIMITS.emailSubject);
    const long = emailContent(anomaly({ agent_id: '🔥'.repeat(2000) }), {
      ...ctx,
      incidentKey: 'inc_3f2a9c1d00112233445566778899aabb',
      action: 'update',
    });
    expect(codePoints(long.subject)).toBeLessThanOrEqual(LIMITS.emailSubject);
    expect(long.subject).toMatch(/^Re: \[burnrate\] (?:🔥)+… — incident 3f2a9c1d$/u);
  });
});

describe(facts.name, () => {
  it('titles a trigger, an escalation and a resolve', () => {
    const [first, , escalated, , last] = incident();
    expect(facts(first, ctx).title).toBe('WARNING: research-agent — spend zscore');
    expect(facts(escalated, { ...ctx, action: 'update' }).title).toBe(
      'ESCALATED to CRITICAL: research-agent — spend zscore',
    );
    expect(facts(last, resolveCtx(incident())).title).toBe('RESOLVED: research-agent — 2 signals');
    expect(facts(anomaly({ agent_id: null, state: 'resolved' }), resolveCtx([])).title).toBe(
      'RESOLVED: support — 1 signal',
    );
  });

  it('names the incident and the signals open', () => {
    const [, loop] = incident();
    const f = facts(loop, ctx);
    expect(f.lines).toContainEqual(['Incident', 'inc_1']);
    expect(f.lines).toContainEqual(['Signals open', '2']);
    expect(facts(anomaly({ incident_signals: null }), ctx).lines.map(([k]) => k)).not.toContain(
      'Signals open',
    );
  });

  it('digests a resolve: every signal once, its last state, the highest severity it reached, its last summary', () => {
    const records = incident();
    const f = facts(records[4], resolveCtx(records));
    expect(f.signals).toEqual([
      {
        dedupe_key: 'k-spend',
        rule: 'spend_zscore',
        severity: 'critical',
        state: 'resolved',
        summary: 'spend back to baseline',
      },
      {
        dedupe_key: 'k-loop',
        rule: 'run_rate_loop',
        severity: 'error',
        state: 'resolved',
        summary: 'runs back to normal',
      },
    ]);
    expect(facts(records[0], ctx).signals).toEqual([]);
  });
});

describe('a resolve lists every signal of its incident', () => {
  const records = incident();
  const last = records[4];
  const c = resolveCtx(records);

  it('in Slack, as a section', () => {
    const body = JSON.parse(buildRequest(SLACK, last, c).body) as {
      blocks: { type: string; text?: { type: string; text: string } }[];
    };
    const digest = body.blocks.filter((b) => b.text?.text.startsWith('Signals of this incident (2)'));
    expect(digest).toHaveLength(1);
    expect(digest[0].text!.type).toBe('plain_text');
    expect(digest[0].text!.text).toContain('CRITICAL · spend zscore · resolved — spend back to baseline');
    expect(digest[0].text!.text).toContain('ERROR · run rate loop · resolved — runs back to normal');
  });

  it('in Teams, as a FactSet', () => {
    const card = JSON.parse(buildRequest(TEAMS, last, c).body) as {
      attachments: { content: { body: { type: string; facts?: { title: string; value: string }[] }[] } }[];
    };
    const sets = card.attachments[0].content.body.filter((b) => b.type === 'FactSet');
    expect(sets).toHaveLength(2);
    expect(sets[1].facts).toEqual([
      { title: 'CRITICAL · spend zscore', value: 'resolved — spend back to baseline' },
      { title: 'ERROR · run rate loop', value: 'resolved — runs back to normal' },
    ]);
  });

  it('in email, as a list and a table', () => {
    const mail = emailContent(last, c);
    expect(mail.text).toContain('Signals of this incident (2):');
    expect(mail.text).toContain('- CRITICAL · spend zscore · resolved — spend back to baseline');
    expect(mail.text).toContain('- ERROR · run rate loop · resolved — runs back to normal');
    expect(mail.html).toContain('<td>run_rate_loop</td><td>resolved</td><td>runs back to normal</td>');
  });

  it('in Slack within 50 blocks when an incident has hundreds of signals', () => {
    const many = Array.from({ length: 400 }, (_, i) =>
      anomaly({ anomaly_id: `m${i}`, dedupe_key: `k${i}`, summary: `signal ${i} ${'x'.repeat(400)}` }),
    );
    const body = JSON.parse(buildRequest(SLACK, last, resolveCtx(many)).body) as {
      blocks: { text?: { text: string } }[];
    };
    expect(body.blocks.length).toBeLessThanOrEqual(50);
    expect(body.blocks.some((b) => b.text?.text.includes('…and 301 more signals'))).toBe(true);
  });
});

describe('no link configured', () => {
  const none: MessageContext = { ...ctx, link: null };

  it('sends no button, action or link anywhere', () => {
    for (const c of [none, { ...none, action: 'resolve' as const, signals: incident() }]) {
      const a = c.action === 'resolve' ? incident()[4] : anomaly();
      const slack = JSON.parse(buildRequest(SLACK, a, c).body) as { blocks: { type: string }[] };
      expect(slack.blocks.map((b) => b.type)).not.toContain('actions');
      const teams = JSON.parse(buildRequest(TEAMS, a, c).body) as {
        attachments: { content: Record<string, unknown> }[];
      };
      expect(teams.attachments[0].content).not.toHaveProperty('actions');
      expect(JSON.parse(buildRequest(PD, a, c).body)).not.toHaveProperty('links');
      const mail = emailContent(a, c);
      expect(mail.html).not.toContain('<a ');
      expect(mail.text).not.toMatch(/burnrate\.example|incidents\/|\n\n\n/);
      for (const d of [SLACK, TEAMS, PD]) expect(buildRequest(d, a, c).body).not.toMatch(/"(url|href)"/);
    }
  });

  it('links the incident page when there is one', () => {
    const slack = JSON.parse(buildRequest(SLACK, anomaly(), ctx).body) as {
      blocks: { type: string; elements?: { url: string }[] }[];
    };
    expect(slack.blocks.at(-1)).toMatchObject({ type: 'actions', elements: [{ url: ctx.link }] });
    expect(JSON.parse(buildRequest(PD, anomaly(), ctx).body)).toMatchObject({ links: [{ href: ctx.link }] });
    expect(buildRequest(TEAMS, anomaly(), ctx).body).toContain('"Action.OpenUrl"');
    expect(emailContent(anomaly(), ctx).text).toContain(`\n${ctx.link}\n`);
  });
});

describe('PagerDuty events of one incident', () => {
  const [first, , escalated, , last] = incident();
  const key = 'inc_3f2a9c1d00112233445566778899aabb';
  const trigger = JSON.parse(buildRequest(PD, first, { ...ctx, incidentKey: key }).body) as Record<
    string,
    unknown
  >;
  const update = JSON.parse(
    buildRequest(PD, escalated, { ...ctx, incidentKey: key, action: 'update', deliveryId: 'msg_2' }).body,
  ) as Record<string, unknown>;
  const resolve = JSON.parse(
    buildRequest(PD, last, { ...resolveCtx(incident()), incidentKey: key }).body,
  ) as Record<string, unknown>;

  it('share the dedup_key; an update is a trigger; a resolve carries only what it needs', () => {
    expect(trigger.dedup_key).toBe(key);
    expect(update.dedup_key).toBe(key);
    expect(resolve.dedup_key).toBe(key);
    expect(trigger.event_action).toBe('trigger');
    expect(update.event_action).toBe('trigger');
    expect(resolve).toEqual({ routing_key: PD.routing_key, event_action: 'resolve', dedup_key: key });
  });

  it('tell the incident and the severity', () => {
    expect(trigger).toMatchObject({ payload: { severity: 'warning', custom_details: { incident: key } } });
    expect(update).toMatchObject({
      payload: {
        severity: 'critical',
        summary: expect.stringMatching(/^ESCALATED to CRITICAL: research-agent — spend zscore: spend up 9x/),
        custom_details: { incident: key, 'Signals open': '2' },
      },
    });
  });
});

describe('Standard Webhooks', () => {
  it('sends incident.triggered, .updated and .resolved with the record, the incident key and the action', () => {
    const records = incident();
    const cases: [Anomaly, MessageContext, string][] = [
      [records[0], ctx, 'incident.triggered'],
      [records[2], { ...ctx, action: 'update' }, 'incident.updated'],
      [records[4], resolveCtx(records), 'incident.resolved'],
    ];
    for (const [a, c, type] of cases) {
      const req = buildRequest(HOOK, a, c);
      const body = JSON.parse(req.body) as { type: string; timestamp: string; data: Record<string, unknown> };
      expect(body).toEqual({
        type,
        timestamp: new Date(c.now).toISOString(),
        data: { ...a, incident_key: c.incidentKey, action: c.action },
      });
      expect(req.headers['webhook-id']).toBe(c.deliveryId);
      expect(req.headers['webhook-timestamp']).toBe(String(Math.floor(c.now / 1000)));
      expect(req.headers['webhook-signature']).toBe(
        signWebhook(HOOK.secret, c.deliveryId, Math.floor(c.now / 1000), req.body),
      );
    }
  });
});

describe('email threads', () => {
  const records = incident();
  const key = 'inc_3f2a9c1d00112233445566778899aabb';
  const trigger = emailContent(records[0], { ...ctx, incidentKey: key, deliveryId: 'msg_t' });
  const update = emailContent(records[2], {
    ...ctx,
    incidentKey: key,
    action: 'update',
    deliveryId: 'msg_u',
  });
  const resolve = emailContent(records[4], { ...resolveCtx(records), incidentKey: key, deliveryId: 'msg_r' });

  it('opens the thread with the trigger', () => {
    expect(trigger.messageId).toBe(`<${key}@burnrate>`);
    expect(trigger.headers).toEqual({
      'Auto-Submitted': 'auto-generated',
      'X-Auto-Response-Suppress': 'All',
    });
    expect(trigger.subject).toBe('[burnrate] research-agent — incident 3f2a9c1d');
  });

  it('answers it with every later message, each with its own Message-ID', () => {
    for (const [mail, id] of [
      [update, 'msg_u'],
      [resolve, 'msg_r'],
    ] as const) {
      expect(mail.messageId).toBe(`<${key}.${id}@burnrate>`);
      expect(mail.headers).toEqual({
        'Auto-Submitted': 'auto-generated',
        'X-Auto-Response-Suppress': 'All',
        'In-Reply-To': `<${key}@burnrate>`,
        References: `<${key}@burnrate>`,
      });
      expect(mail.subject).toBe('Re: [burnrate] research-agent — incident 3f2a9c1d');
    }
    expect(update.text.split('\n')[0]).toBe('ESCALATED to CRITICAL: research-agent — spend zscore');
    expect(resolve.text.split('\n')[0]).toBe('RESOLVED: research-agent — 2 signals');
  });
});
