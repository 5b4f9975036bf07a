const HOUR = 3_600_000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, number>();

/** The zone's offset from UTC in ms at instant `t` (positive east of Greenwich). */
export function zoneOffsetMs(t: number, timeZone: string): number {
  if (timeZone === 'UTC') return 0;
  const cacheKey = `${timeZone}|${Math.floor(t / HOUR)}`;
  const cached = offsetCache.get(cacheKey);
  if (cached !== undefined) return cached;
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  const offset = asUtc - Math.floor(t / 1000) * 1000;
  if (offsetCache.size > 10_000) offsetCache.clear();
  offsetCache.set(cacheKey, offset);
  return offset;
}

export interface Window {
  start: number;
  end: number;
}

function localToUtc(localMs: number, timeZone: string): number {
  const guess = localMs - zoneOffsetMs(localMs, timeZone);
  return localMs - zoneOffsetMs(guess, timeZone);
}

/** The calendar day containing `t` in `timeZone` (23 or 25 hours long on DST changes). */
export function dayWindow(t: number, timeZone: string): Window {
  const local = new Date(t + zoneOffsetMs(t, timeZone));
  const y = local.getUTCFullYear();
  const m = local.getUTCMonth();
  const d = local.getUTCDate();
  return { start: localToUtc(Date.UTC(y, m, d), timeZone), end: localToUtc(Date.UTC(y, m, d + 1), timeZone) };
}

/** The calendar month containing `t` in `timeZone`. */
export function monthWindow(t: number, timeZone: string): Window {
  const local = new Date(t + zoneOffsetMs(t, timeZone));
  const y = local.getUTCFullYear();
  const m = local.getUTCMonth();
  return { start: localToUtc(Date.UTC(y, m, 1), timeZone), end: localToUtc(Date.UTC(y, m + 1, 1), timeZone) };
}

export function minuteWindow(t: number): Window {
  const start = Math.floor(t / 60_000) * 60_000;
  return { start, end: start + 60_000 };
}

/** Whether the local day starting at `dayStart` (a day window's start) is a Saturday or Sunday in `timeZone`. */
export function isWeekendDay(dayStart: number, timeZone: string): boolean {
  const dow = new Date(dayStart + zoneOffsetMs(dayStart, timeZone)).getUTCDay();
  return dow === 0 || dow === 6;
}
