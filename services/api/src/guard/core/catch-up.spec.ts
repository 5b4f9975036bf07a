import { CatchUp } from './catch-up';

const ends = (entries: [number, bigint][]) => new Map(entries);

describe(CatchUp.name, () => {
  it('is caught up once every partition is read to the end offset it had at the start', () => {
    const sut = new CatchUp(
      ends([
        [0, 10n],
        [1, 5n],
      ]),
      0,
    );
    expect(sut.caughtUp).toBe(false);
    sut.batchProcessed(0, 9n, 10);
    expect(sut.caughtUp).toBe(false);
    expect(sut.behind()).toEqual([1]);
    sut.batchProcessed(1, 3n, 20);
    expect(sut.caughtUp).toBe(false);
    sut.batchProcessed(1, 4n, 30);
    expect(sut.caughtUp).toBe(true);
    expect(sut.byQuiet).toBe(false);
  });

  it('is caught up at once when every partition is empty', () => {
    expect(new CatchUp(ends([[0, 0n]]), 0).caughtUp).toBe(true);
    expect(new CatchUp(ends([]), 0).caughtUp).toBe(true);
  });

  it('stays caught up whatever comes after', () => {
    const sut = new CatchUp(ends([[0, 1n]]), 0);
    sut.batchProcessed(0, 0n, 1);
    sut.batchProcessed(0, 0n, 2);
    expect(sut.caughtUp).toBe(true);
  });

  it('takes fetches that come back empty for the quiet time as the end of a partition it cannot read to', () => {
    const sut = new CatchUp(ends([[0, 100n]]), 0, 3000);
    sut.batchProcessed(0, 40n, 100); // the rest of the partition was compacted away
    sut.fetchStarting(200);
    sut.fetched(300);
    sut.fetchStarting(400);
    expect(sut.caughtUp).toBe(false); // empty, but not for long yet
    sut.fetched(3050);
    sut.fetchStarting(3150);
    expect(sut.caughtUp).toBe(true);
    expect(sut.byQuiet).toBe(true);
  });

  it('does not take a slow fetch that brought records for a quiet one', () => {
    const sut = new CatchUp(ends([[0, 100n]]), 0, 3000);
    sut.fetchStarting(0);
    sut.fetched(5000); // a slow broker: records arrived, not processed yet
    sut.batchProcessed(0, 50n, 5100);
    sut.fetchStarting(5100);
    expect(sut.caughtUp).toBe(false);
    // and no fetch has completed since the last progress, however long ago that was
    sut.fetchStarting(9000);
    expect(sut.caughtUp).toBe(false);
  });
});
