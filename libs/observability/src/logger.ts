import type { LoggerService } from '@nestjs/common';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type LogFields = Record<string, unknown>;

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, fatal: 50 };

/** Keys whose values are secrets wherever they appear in a log line (routing keys, webhook URLs, passwords, keys). */
const SECRET_KEY =
  /(secret|password|passwd|routing_key|routingkey|authorization|api_key|apikey|token|webhook_url|smtp_url|^key$|^url$)/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k) && v !== null && v !== undefined ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

/** Structured JSON logs, one line per event, on stdout; also Nest's LoggerService. */
export class JsonLogger implements LoggerService {
  private readonly min: number;

  constructor(
    private readonly bindings: LogFields = {},
    level: LogLevel = (process.env.LOG_LEVEL as LogLevel) || 'info',
    private readonly write: (line: string) => void = (line) => process.stdout.write(line),
  ) {
    this.min = ORDER[level] ?? ORDER.info;
  }

  child(bindings: LogFields): JsonLogger {
    const levelName = (Object.keys(ORDER) as LogLevel[]).find((l) => ORDER[l] === this.min) ?? 'info';
    return new JsonLogger({ ...this.bindings, ...bindings }, levelName, this.write);
  }

  emit(level: LogLevel, msg: string, fields?: LogFields): void {
    if (ORDER[level] < this.min) return;
    const line = {
      level,
      time: new Date().toISOString(),
      ...this.bindings,
      msg,
      ...(fields ? (redact(fields) as LogFields) : {}),
    };
    this.write(JSON.stringify(line) + '\n');
  }

  debug(msg: string, fields?: LogFields): void {
    this.emit('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.emit('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.emit('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields | string): void {
    this.emit('error', msg, typeof fields === 'string' ? { stack: fields } : fields);
  }
  fatal(msg: string, fields?: LogFields): void {
    this.emit('fatal', msg, fields);
  }

  // LoggerService (Nest's own messages): log(message, context)
  log(message: unknown, ...rest: unknown[]): void {
    this.emit('info', String(message), nestContext(rest));
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', String(message), nestContext(rest));
  }
}

function nestContext(rest: unknown[]): LogFields | undefined {
  const context = rest.length > 0 ? rest[rest.length - 1] : undefined;
  return typeof context === 'string' ? { context } : undefined;
}
