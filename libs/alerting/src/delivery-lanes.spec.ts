import { DeliveryLanes } from './delivery-lanes';

interface Item {
  key: string;
  n: number;
}

/** A send the test finishes when it wants to. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const flush = () => new Promise((r) => setImmediate(r));

describe(DeliveryLanes.name, () => {
  it('lets other destinations through while one destination hangs', async () => {
    const hang = deferred();
    const done: string[] = [];
    const sut = new DeliveryLanes<Item>(
      async (item, pace) => {
        await pace();
        if (item.key === 'slow') await hang.promise;
        done.push(`${item.key}${item.n}`);
      },
      { concurrency: 4 },
    );
    sut.add('slow', 0, [
      { key: 'slow', n: 1 },
      { key: 'slow', n: 2 },
    ]);
    sut.add('fast', 0, [
      { key: 'fast', n: 1 },
      { key: 'fast', n: 2 },
    ]);
    await flush();
    expect(done).toEqual(['fast1', 'fast2']);
    expect(sut.busyKeys()).toEqual(['slow']);
    hang.resolve();
    await sut.idle();
    expect(done).toEqual(['fast1', 'fast2', 'slow1', 'slow2']);
  });

  it('keeps a destination’s items in order, spaced from the start of the previous send', async () => {
    let clock = 1000;
    const waits: number[] = [];
    const started: [number, number][] = [];
    const sut = new DeliveryLanes<Item>(
      async (item, pace) => {
        await pace();
        started.push([item.n, clock]);
        clock += 300; // the send takes 300 ms
      },
      {
        concurrency: 4,
        now: () => clock,
        sleep: async (ms) => {
          waits.push(ms);
          clock += ms;
        },
      },
    );
    sut.add(
      'slack',
      1000,
      [1, 2].map((n) => ({ key: 'slack', n })),
    );
    sut.add('slack', 1000, [{ key: 'slack', n: 3 }]);
    await sut.idle();
    expect(started).toEqual([
      [1, 1000],
      [2, 2000],
      [3, 3000],
    ]);
    expect(waits).toEqual([700, 700]);
  });

  it('keeps at most `concurrency` items in flight over all destinations', async () => {
    let inFlight = 0;
    let most = 0;
    const sut = new DeliveryLanes<Item>(
      async (_item, pace) => {
        await pace();
        most = Math.max(most, ++inFlight);
        await flush();
        inFlight--;
      },
      { concurrency: 3 },
    );
    for (let k = 0; k < 10; k++)
      sut.add(`d${k}`, 0, [
        { key: `d${k}`, n: 1 },
        { key: `d${k}`, n: 2 },
      ]);
    await sut.idle();
    expect(most).toBe(3);
  });

  it('says when a destination’s lane has emptied, and hands back what it never started when stopped', async () => {
    const hang = deferred();
    const emptied: string[] = [];
    const sut = new DeliveryLanes<Item>(
      async (item) => {
        if (item.n === 1) await hang.promise;
      },
      { concurrency: 1, onLaneDone: (key) => emptied.push(key) },
    );
    sut.add('a', 0, [{ key: 'a', n: 0 }]);
    await flush();
    expect(emptied).toEqual(['a']);
    sut.add('b', 0, [
      { key: 'b', n: 1 },
      { key: 'b', n: 2 },
    ]);
    await flush();
    const stopping = sut.stop();
    hang.resolve();
    expect(await stopping).toEqual([{ key: 'b', n: 2 }]);
  });

  it('goes on with the next item when one throws', async () => {
    const errors: unknown[] = [];
    const done: number[] = [];
    const sut = new DeliveryLanes<Item>(
      async (item) => {
        if (item.n === 1) throw new Error('boom');
        done.push(item.n);
      },
      { concurrency: 1, onError: (err) => errors.push(err) },
    );
    sut.add('a', 0, [
      { key: 'a', n: 1 },
      { key: 'a', n: 2 },
    ]);
    await sut.idle();
    expect(done).toEqual([2]);
    expect(errors).toHaveLength(1);
  });
});
