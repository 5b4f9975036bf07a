import { nanosToDecimal } from './http';

describe(nanosToDecimal.name, () => {
  it.each([
    ['0', '0'],
    ['1', '0.000000001'],
    ['24000000', '0.024'],
    ['12345678901', '12.345678901'],
    ['1000000000', '1'],
    ['98765432109876543210', '98765432109.87654321'],
    ['-1500000000', '-1.5'],
  ])('%s nanos is %s', (nanos, decimal) => {
    expect(nanosToDecimal(nanos)).toBe(decimal);
  });
});
