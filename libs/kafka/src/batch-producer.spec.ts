import { bySize, type OutboundRecord } from './batch-producer';

const record = (bytes: number, key = 'k'): OutboundRecord => ({
  topic: 't',
  key,
  value: Buffer.alloc(bytes),
});

describe('bySize', () => {
  it('keeps records in order, in runs whose framed size stays under the limit', () => {
    const records = Array.from({ length: 10 }, (_, i) => record(300, `k${i}`));
    const chunks = bySize(records, 1000);
    expect(chunks.flat()).toEqual(records);
    expect(chunks.map((c) => c.length)).toEqual([2, 2, 2, 2, 2]); // (300 + 70 + 2) * 3 > 1000
  });

  it('sends a record larger than the limit alone rather than dropping it', () => {
    const chunks = bySize([record(10), record(5000), record(10)], 1000);
    expect(chunks.map((c) => c.map((r) => r.value!.length))).toEqual([[10], [5000], [10]]);
  });

  it('counts headers, and gives nothing for nothing', () => {
    const withHeaders: OutboundRecord = { ...record(100), headers: { reason: 'x'.repeat(900) } };
    expect(bySize([withHeaders, record(100)], 1000)).toHaveLength(2);
    expect(bySize([], 1000)).toEqual([]);
  });
});
