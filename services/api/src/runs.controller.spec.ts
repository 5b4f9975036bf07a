import { HttpException } from '@nestjs/common';
import { decodeCursor, encodeCursor } from './runs.controller';
import { reportingCurrencies } from './whoami.controller';
import { fxRates } from './http';

describe('runs cursor', () => {
  it('gives back the position it was made from, whatever the team and run_id hold', () => {
    const sut = { finishedUs: 1_764_633_600_123_456n, team: 'équipe/α', runId: 'run 1 🚀 with/slash' };
    const cursor = encodeCursor(sut);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual(sut);
  });

  it.each([
    'support',
    'a b',
    '',
    Buffer.from('12\nteam').toString('base64url'),
    Buffer.from('x\nt\nr').toString('base64url'),
  ])('refuses %p with a 400 naming the parameter', (cursor) => {
    let thrown: unknown;
    try {
      decodeCursor(cursor);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HttpException);
    expect((thrown as HttpException).getStatus()).toBe(400);
    expect((thrown as HttpException).getResponse()).toMatchObject({
      error: { details: { parameter: 'cursor' } },
    });
  });
});

describe(reportingCurrencies.name, () => {
  it('lists USD first, then each currency FX_RATES converts to, once', () => {
    expect(reportingCurrencies(fxRates('USD:GBP=0.79,USD:EUR=0.92'))).toEqual(['USD', 'EUR', 'GBP']);
    expect(reportingCurrencies(fxRates(''))).toEqual(['USD']);
  });
});
