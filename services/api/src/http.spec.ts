import { HttpException } from '@nestjs/common';
import type { Principal } from '@libs/auth';
import { validateRunJson } from '@libs/contracts';
import {
  RUN_ID,
  TEAM,
  agentParam,
  fits,
  invalidBody,
  keyListScope,
  mayManageKey,
  nanosToDecimal,
  parseInstant,
  teamParam,
  teamScope,
  uuidParam,
} from './http';

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

const admin: Principal = { keyId: 'k0', team: 'platform', role: 'admin' };
const support: Principal = { keyId: 'k1', team: 'support', role: 'team' };

function statusOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpException) return err.getStatus();
    throw err;
  }
  return 200;
}

describe(keyListScope.name, () => {
  it('shows a team key only the team keys of its own team', () => {
    expect(keyListScope(support, undefined)).toEqual({ team: 'support', role: 'team' });
    expect(keyListScope(support, 'support')).toEqual({ team: 'support', role: 'team' });
    expect(statusOf(() => keyListScope(support, 'platform'))).toBe(403);
  });

  it('shows an admin every key, or the named team’s', () => {
    expect(keyListScope(admin, undefined)).toEqual({ team: undefined, role: undefined });
    expect(keyListScope(admin, 'support')).toEqual({ team: 'support', role: undefined });
  });
});

describe(mayManageKey.name, () => {
  it.each([
    [admin, { team: 'support', role: 'team' }, true],
    [admin, { team: 'other', role: 'admin' }, true],
    [support, { team: 'support', role: 'team' }, true],
    [support, { team: 'support', role: 'admin' }, false],
    [support, { team: 'billing', role: 'team' }, false],
  ] as const)('%j on %j: %s', (principal, key, allowed) => {
    expect(mayManageKey(principal, key)).toBe(allowed);
  });
});

describe(invalidBody.name, () => {
  it('answers 400 in the api’s error shape, every field in details and in the message', () => {
    const err = invalidBody([
      { field: 'timezone', message: 'must be a string' },
      { field: 'budgets[0].amount', message: 'is required' },
    ]);
    expect(err.getStatus()).toBe(400);
    expect(err.getResponse()).toEqual({
      error: {
        code: 'bad_request',
        message: 'invalid request body: timezone must be a string; budgets[0].amount is required',
        details: [
          { field: 'timezone', message: 'must be a string' },
          { field: 'budgets[0].amount', message: 'is required' },
        ],
      },
    });
  });
});

describe(teamParam.name, () => {
  it('takes a printable team name and refuses control characters or an over-long one', () => {
    expect(teamParam('support.eu-1')).toBe('support.eu-1');
    expect(teamParam('Acme Corp')).toBe('Acme Corp');
    expect(statusOf(() => teamParam('a\u0000b'))).toBe(400);
    expect(statusOf(() => teamParam('x'.repeat(129)))).toBe(400);
    expect(statusOf(() => teamParam(''))).toBe(400);
  });

  it('takes exactly what the TEAM schema of /openapi.json takes', () => {
    for (const team of ['support', 'Acme Corp', '🚀'.repeat(128), '🚀'.repeat(129), '', 'a\u0085b', '\uD800'])
      expect([team, statusOf(() => teamParam(team)) === 200]).toEqual([team, fits(TEAM, team)]);
  });
});

describe(teamScope.name, () => {
  it('refuses a team named in a query as teamParam does, for any key', () => {
    expect(statusOf(() => teamScope(admin, 'a\u0000b'))).toBe(400);
    expect(statusOf(() => teamScope(support, ''))).toBe(400);
    expect(statusOf(() => teamScope(support, 'billing'))).toBe(403);
    expect(teamScope(admin, 'billing')).toBe('billing');
  });
});

describe(uuidParam.name, () => {
  it('takes a uuid in either case, and nothing else', () => {
    expect(uuidParam('id', 'C56A4180-65AA-42EC-A945-5FD21DEC0538', 'a key id')).toBe(
      'C56A4180-65AA-42EC-A945-5FD21DEC0538',
    );
    for (const id of ['-'.repeat(36), 'c56a418065aa42eca9455fd21dec0538', 'not-a-uuid', ''])
      expect(statusOf(() => uuidParam('id', id, 'a key id'))).toBe(400);
  });
});

describe(parseInstant.name, () => {
  it.each([
    ['2026-06-01', Date.UTC(2026, 5, 1)],
    ['2026-06-01T00:00:00Z', Date.UTC(2026, 5, 1)],
    ['2026-06-01T01:00:00.5+01:00', Date.UTC(2026, 5, 1, 0, 0, 0, 500)],
    ['', 7],
  ])('takes %j as a body takes an instant', (value, ms) => {
    expect(parseInstant('from', value, 7)).toBe(ms);
  });

  it.each([
    ['yesterday'],
    ['2026-06-01T00:00:00'],
    ['2026-13-01'],
    ['2026-06-01garbage'],
    [`2026-06-01T00:00:00.${'0'.repeat(20)}Z`],
  ])('refuses %j, which the INSTANT schema refuses too', (value) => {
    expect(statusOf(() => parseInstant('from', value, 0))).toBe(400);
  });
});

describe(agentParam.name, () => {
  const run = (agent_id: string) => ({
    run_id: 'r1',
    agent_id,
    model: 'gpt-4o',
    input_tokens: 1,
    output_tokens: 1,
    started_at: '2026-06-09T09:14:02Z',
    finished_at: '2026-06-09T09:14:05Z',
    status: 'success',
  });

  it.each([
    ['research-agent', true],
    ['team/agent v2 🚀', true],
    ['x'.repeat(128), true],
    ['', false],
    ['x'.repeat(129), false],
    ['a\u0000b', false],
    ['a\u009Bb', false],
    ['\uD800', false],
    [' padded', false],
    ['padded\n', false],
    ['\u00A0padded', false],
    ['padded\u3000', false],
    ['\uFEFFpadded', false],
    ['padded\u2028', false],
    ['in\u00A0side', true],
  ])('takes %j exactly when the run contract takes it as an agent_id (%s)', (agentId, valid) => {
    const contract = validateRunJson(run(agentId), Date.UTC(2026, 5, 10));
    expect(contract.ok).toBe(valid);
    expect(fits(RUN_ID, agentId)).toBe(valid);
    if (valid) expect(agentParam(agentId)).toBe(agentId);
    else expect(statusOf(() => agentParam(agentId))).toBe(400);
  });
});
