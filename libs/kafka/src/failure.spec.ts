import { TransientError, backoffMs, isTransient } from './failure';

describe('isTransient', () => {
  const pg = (code: string, message = 'x') => Object.assign(new Error(message), { code });

  it.each([
    ['a dependency error the handler names', new TransientError('registry down')],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['PostgreSQL shutting down', pg('57P01')],
    ['too many connections', pg('53300')],
    ['a connection exception', pg('08006')],
    ['a deadlock', pg('40P01')],
    ['a column the code expects but the database lacks', pg('42703')],
    ['a kafkajs error', Object.assign(new Error('broker gone'), { name: 'KafkaJSConnectionError' })],
    ['pg losing its connection', new Error('Connection terminated unexpectedly')],
    ['fetch failing on the network', new TypeError('fetch failed', { cause: pg('ECONNRESET') })],
    ['an aggregate of refused connections', new AggregateError([pg('ECONNREFUSED')], 'connect failed')],
  ])('%s is transient', (_name, err) => expect(isTransient(err)).toBe(true));

  it.each([
    ['a NUL in text', pg('22021', 'invalid byte sequence for encoding "UTF8": 0x00')],
    ['a value out of range', pg('22003')],
    ['a constraint', pg('23505')],
    ['a statement cancelled by its timeout', pg('57014')],
    ['an invalid time zone', new RangeError('Invalid time zone specified: {"Europe/London"}')],
    ['a bug tripped by a record', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['not an error at all', 'boom'],
    ['null', null],
  ])('%s is the record’s', (_name, err) => expect(isTransient(err)).toBe(false));
});

describe('backoffMs', () => {
  it('doubles from 250 ms up to the cap, jittered within the upper half', () => {
    expect(backoffMs(1, 30000, () => 0)).toBe(125);
    expect(backoffMs(1, 30000, () => 1)).toBe(250);
    expect(backoffMs(3, 30000, () => 1)).toBe(1000);
    expect(backoffMs(30, 30000, () => 1)).toBe(30000);
    expect(backoffMs(30, 30000, () => 0)).toBe(15000);
  });
});
