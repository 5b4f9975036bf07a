import { classify, retryAfterMs } from './retry-policy';

describe(classify.name, () => {
  const policy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };
  it('delivers on 2xx', () => {
    expect(classify(1, { status: 202, retryAfter: null }, policy)).toEqual({ kind: 'delivered' });
  });
  it('retries 5xx, 408, 429 and network errors with jittered exponential backoff', () => {
    expect(classify(3, { status: 503, retryAfter: null }, policy, 0, () => 1)).toEqual({
      kind: 'retry',
      delayMs: 4000,
      error: 'HTTP 503',
    });
    expect(classify(3, { status: 503, retryAfter: null }, policy, 0, () => 0)).toEqual({
      kind: 'retry',
      delayMs: 2000,
      error: 'HTTP 503',
    });
    expect(classify(1, { status: 408, retryAfter: null }, policy).kind).toBe('retry');
    expect(classify(1, { status: null, retryAfter: null, error: 'ECONNREFUSED' }, policy)).toMatchObject({
      kind: 'retry',
      error: 'ECONNREFUSED',
    });
  });
  it('honours Retry-After on 429', () => {
    expect(classify(1, { status: 429, retryAfter: '7' }, policy)).toEqual({
      kind: 'retry',
      delayMs: 7000,
      error: 'HTTP 429',
    });
  });
  it('does not retry other 4xx, and gives up after the last attempt', () => {
    expect(classify(1, { status: 400, retryAfter: null }, policy)).toEqual({
      kind: 'failed',
      error: 'HTTP 400',
    });
    expect(classify(5, { status: 500, retryAfter: null }, policy)).toEqual({
      kind: 'failed',
      error: 'HTTP 500 after 5 attempts',
    });
  });
});

describe(retryAfterMs.name, () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs('soon', 0)).toBeNull();
  });
});
