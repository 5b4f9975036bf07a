import type { Money } from './api';

const NANO = 1_000_000_000n;

/** An exact decimal amount ("12.345") in nano-units. */
export function toNanos(amount: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!m) return 0n;
  const frac = (m[3] ?? '').slice(0, 9).padEnd(9, '0');
  const n = BigInt(m[2]) * NANO + BigInt(frac);
  return m[1] ? -n : n;
}

export const nanosToNumber = (nanos: bigint): number => Number(nanos) / 1e9;

/** Digits after the point that show an amount: cents for amounts of a unit or more, more for fractions of a cent. */
function digits(value: number): number {
  const abs = Math.abs(value);
  if (abs === 0 || abs >= 1) return 2;
  if (abs >= 0.01) return 4;
  return 6;
}

/** An amount with its currency code, e.g. "USD 12.34", "USD 0.0042". */
export function formatAmount(value: number, currency: string): string {
  const d = digits(value);
  return `${currency} ${value.toLocaleString('en', { minimumFractionDigits: d, maximumFractionDigits: d })}`;
}

export const formatMoney = (m: Money | null | undefined): string =>
  m ? formatAmount(Number(m.amount), m.currency) : '—';

export const formatNanos = (nanos: bigint, currency: string): string =>
  formatAmount(nanosToNumber(nanos), currency);

export const formatCount = (n: number): string => n.toLocaleString('en');

/** "2026-11-20 14:00 UTC" (hour buckets and instants) or "2026-11-20" (days). */
export function formatTime(iso: string | number, withTime = true): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const s = d.toISOString();
  return withTime ? `${s.slice(0, 10)} ${s.slice(11, 16)} UTC` : s.slice(0, 10);
}
