import {
  PAGERDUTY_DEDUP_KEY_MAX,
  buildRequest,
  escapeSlackMrkdwn,
  escapeTeamsMarkdown,
  pagerDutyDedupKey,
  type MessageContext,
} from './messages';
import type { Anomaly } from './types';

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
    const trigger = JSON.parse(buildRequest(pd, a, ctx).body) as { dedup_key: string };
    const resolve = JSON.parse(buildRequest(pd, { ...a, state: 'resolved' }, ctx).body) as {
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
