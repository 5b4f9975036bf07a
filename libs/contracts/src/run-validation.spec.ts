import { validateRunEvent, validateRunJson } from './run-validation';

const NOW = Date.parse('2026-06-09T12:00:00Z');
const good = {
  run_id: 'run_018f4c2a',
  agent_id: 'support-triage',
  model: 'gpt-4o',
  input_tokens: 2480,
  output_tokens: 514,
  customer_id: 'cus_8821',
  feature: 'inbox-autoreply',
  parent_run_id: null,
  started_at: '2026-06-09T08:14:02Z',
  finished_at: '2026-06-09T09:14:05.250+01:00',
  status: 'success',
  tags: { env: 'prod' },
};

describe(validateRunJson.name, () => {
  it('accepts the brief run and converts times to epoch milliseconds', () => {
    const sut = validateRunJson(good, NOW);
    expect(sut.ok).toBe(true);
    if (!sut.ok) return;
    expect(sut.run.started_at).toBe(Date.parse('2026-06-09T08:14:02Z'));
    expect(sut.run.finished_at).toBe(Date.parse('2026-06-09T08:14:05.250Z'));
    expect(sut.run).toMatchObject({
      run_id: 'run_018f4c2a',
      team: null,
      provider: null,
      cache_read_tokens: null,
      received_at: NOW,
      source: 'http',
    });
  });

  it('names every failing field at once', () => {
    const sut = validateRunJson(
      {
        run_id: '',
        model: 42,
        input_tokens: -1,
        output_tokens: 1.5,
        started_at: '2026-06-09T08:14:05Z',
        finished_at: 'yesterday',
        status: 'ok',
        quality_score: 2,
        tags: { a: 1 },
      },
      NOW,
    );
    expect(sut.ok).toBe(false);
    if (sut.ok) return;
    expect(sut.errors).toEqual([
      { field: 'run_id', message: 'is required' },
      { field: 'agent_id', message: 'is required' },
      { field: 'model', message: 'must be a string' },
      { field: 'input_tokens', message: 'must not be negative' },
      { field: 'output_tokens', message: 'must be an integer' },
      {
        field: 'finished_at',
        message: 'must be an ISO-8601 instant with a time zone, e.g. 2026-06-09T09:14:05Z',
      },
      { field: 'status', message: 'must be one of success, error, timeout, cancelled' },
      { field: 'quality_score', message: 'must be a number from 0 to 1' },
      { field: 'tags.a', message: 'must be a string' },
    ]);
  });

  it('rejects finished_at before started_at and far in the future', () => {
    const backwards = validateRunJson({ ...good, finished_at: '2026-06-09T08:14:01Z' }, NOW);
    expect(backwards.ok ? [] : backwards.errors).toEqual([
      { field: 'finished_at', message: 'is before started_at' },
    ]);
    const future = validateRunJson({ ...good, finished_at: '2026-06-09T12:06:00Z' }, NOW);
    expect(future.ok ? [] : future.errors).toEqual([
      { field: 'finished_at', message: 'is more than 5 minutes in the future' },
    ]);
  });

  it('bounds token counts, string lengths and tag counts', () => {
    const tags = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']));
    const sut = validateRunJson({ ...good, input_tokens: 100_000_001, agent_id: 'a'.repeat(129), tags }, NOW);
    expect(sut.ok ? [] : sut.errors.map((e) => e.field)).toEqual(['agent_id', 'input_tokens', 'tags']);
  });

  it('counts lengths in characters (code points) as the published schema does, not in UTF-16 units', () => {
    const astral = (n: number) => '🚀'.repeat(n);
    expect(
      validateRunJson({ ...good, agent_id: astral(128), tags: { [astral(64)]: astral(256) } }, NOW).ok,
    ).toBe(true);
    const sut = validateRunJson({ ...good, agent_id: astral(129), tags: { k: astral(257) } }, NOW);
    expect(sut.ok ? [] : sut.errors.map((e) => e.field)).toEqual(['agent_id', 'tags.k']);
  });

  it('requires the 1-hour cache writes to be part of the cache writes', () => {
    const sut = validateRunJson({ ...good, cache_write_tokens: 10, cache_write_1h_tokens: 11 }, NOW);
    expect(sut.ok ? [] : sut.errors).toEqual([
      {
        field: 'cache_write_1h_tokens',
        message: 'cannot exceed cache_write_tokens (it is the 1-hour part of them)',
      },
    ]);
  });

  it('refuses a __proto__ tag instead of dropping it', () => {
    const sut = validateRunJson({ ...good, tags: JSON.parse('{"__proto__": "x", "env": "prod"}') }, NOW);
    expect(sut.ok ? [] : sut.errors).toEqual([{ field: 'tags.__proto__', message: 'is not an allowed key' }]);
  });

  it('refuses the tag keys constructor and prototype too', () => {
    const sut = validateRunJson({ ...good, tags: { constructor: 'x', prototype: 'y', env: 'prod' } }, NOW);
    expect(sut.ok ? [] : sut.errors).toEqual([
      { field: 'tags.constructor', message: 'is not an allowed key' },
      { field: 'tags.prototype', message: 'is not an allowed key' },
    ]);
  });

  const STRING_FIELDS = [
    'run_id',
    'agent_id',
    'model',
    'provider',
    'team',
    'customer_id',
    'feature',
    'cost_centre',
    'session_id',
    'tool',
    'parent_run_id',
    'source',
  ] as const;

  it.each([
    ['NUL', 'a\u0000b', 'control characters (U+0000 at index 1)'],
    ['a line feed', 'a\nb', 'control characters (U+000A at index 1)'],
    ['unit separator', 'ab\u001f', 'control characters (U+001F at index 2)'],
    ['DEL', '\u007fab', 'control characters (U+007F at index 0)'],
    ['a C1 control', 'a\u0085', 'control characters (U+0085 at index 1)'],
    ['C1 APC', 'a\u009fb', 'control characters (U+009F at index 1)'],
    ['a lone high surrogate', 'ab\ud83d', 'unpaired surrogates (U+D83D at index 2)'],
    ['a lone low surrogate', 'a\ude00b', 'unpaired surrogates (U+DE00 at index 1)'],
    ['reversed surrogates', '\ude00\ud83d', 'unpaired surrogates (U+DE00 at index 0)'],
  ])('refuses %s in every string field, naming the field', (_what, bad, message) => {
    for (const field of STRING_FIELDS) {
      const sut = validateRunJson({ ...good, [field]: bad }, NOW);
      expect(sut.ok ? [] : sut.errors).toEqual([{ field, message: `must not contain ${message}` }]);
    }
  });

  it('refuses them in tag keys and values, naming the tag without the bad character', () => {
    const sut = validateRunJson(
      { ...good, tags: { env: 'pr\u0000od', 'a\u0000b\ud800': 'x', ok: 'fine' } },
      NOW,
    );
    expect(sut.ok ? [] : sut.errors).toEqual([
      { field: 'tags.env', message: 'must not contain control characters (U+0000 at index 2)' },
      {
        field: 'tags.a<U+0000>b<U+D800>',
        message: 'must not contain control characters (U+0000 at index 1)',
      },
    ]);
  });

  it('accepts other Unicode: paired surrogates, accents, non-breaking and wide spaces, right-to-left text', () => {
    const text = 'caf\u00e9 \ud83d\ude00 a\u00a0b \u3000 \u05e9\u05dc\u05d5\u05dd \u200d';
    const sut = validateRunJson(
      { ...good, feature: text, session_id: '\ud83d\ude00', tags: { [text.slice(0, 8)]: text } },
      NOW,
    );
    expect(sut.ok).toBe(true);
    if (!sut.ok) return;
    expect(sut.run.feature).toBe(text);
    expect(sut.run.session_id).toBe('\ud83d\ude00');
  });

  it('rejects a non-object', () => {
    expect(validateRunJson([1], NOW)).toEqual({
      ok: false,
      run_id: null,
      errors: [{ field: '(run)', message: 'must be a JSON object' }],
    });
  });
});

describe(validateRunEvent.name, () => {
  it('applies the same rules to runs decoded from Avro', () => {
    const sut = validateRunEvent(
      {
        ...good,
        started_at: Date.parse('2026-06-09T09:14:02Z'),
        finished_at: Date.parse('2026-06-09T09:14:01Z'),
        status: 'ok',
      },
      NOW,
    );
    expect(sut.ok ? [] : sut.errors).toEqual([
      { field: 'finished_at', message: 'is before started_at' },
      { field: 'status', message: 'must be one of success, error, timeout, cancelled' },
    ]);
  });

  it('refuses control characters and unpaired surrogates in runs decoded from Avro as well', () => {
    const sut = validateRunEvent(
      {
        ...good,
        started_at: Date.parse('2026-06-09T09:14:02Z'),
        finished_at: Date.parse('2026-06-09T09:14:05Z'),
        feature: 'a\u0000b',
        agent_id: 'agent\ud800',
        tags: { env: '\u0085' },
      },
      NOW,
    );
    expect(sut.ok ? [] : sut.errors).toEqual([
      { field: 'agent_id', message: 'must not contain unpaired surrogates (U+D800 at index 5)' },
      { field: 'feature', message: 'must not contain control characters (U+0000 at index 1)' },
      { field: 'tags.env', message: 'must not contain control characters (U+0085 at index 0)' },
    ]);
  });
});
