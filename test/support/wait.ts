/** Polls `fn` until `ok` holds, and returns that value; gives up with the last value shown after `timeoutMs`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T> | T,
  ok: (v: T) => boolean,
  timeoutMs = 120_000,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`${what}: gave up waiting (last: ${JSON.stringify(v)?.slice(0, 400)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
