import { toApiUnits, validParam, type RuleParam } from './rules';

/**
 * What the team and agent settings readers share: how a stored value is judged before it is used, and where one that
 * cannot be used is reported. Stored values are data, never trusted to have the shape the api wrote.
 */

/** Where a reader reports a stored value it cannot use (JsonLogger fits). */
export interface SettingsLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export const stdoutLogger: SettingsLogger = {
  warn: (msg, fields) =>
    process.stdout.write(
      JSON.stringify({
        level: 'warn',
        time: new Date().toISOString(),
        component: 'team-settings',
        msg,
        ...fields,
      }) + '\n',
    ),
};

/** A numeric column as PostgreSQL returns it (bigint and numeric come as strings); NaN when it is no number. */
export function storedNumber(value: unknown): number {
  return typeof value === 'number' ? value : typeof value === 'string' && value !== '' ? Number(value) : NaN;
}

/** A check that a number lies within `limits` (and is an integer, when asked). */
export const within =
  (limits: { readonly min: number; readonly max: number }, integer = false) =>
  (n: number): boolean =>
    n >= limits.min && n <= limits.max && (!integer || Number.isInteger(n));

/** Whether a stored rule parameter (settings units) is one the api could have written. */
export function validStoredParam(p: RuleParam, v: unknown): boolean {
  const api = typeof v === 'number' || typeof v === 'boolean' ? toApiUnits(p, v) : v;
  return validParam(p, api) && (p.kind !== 'money' || Number.isInteger(v));
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
