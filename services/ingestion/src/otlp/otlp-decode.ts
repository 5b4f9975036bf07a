import { OtlpMessages } from './otlp-proto';

/** A span attribute's value as burnrate reads it: scalars only (arrays, maps and bytes are passed over). */
export type AttributeValue = string | number | boolean;

/** One span of an ExportTraceServiceRequest, whichever encoding it came in. */
export interface OtlpSpan {
  /** Lower-case hex (32 digits when valid). */
  traceId: string;
  /** Lower-case hex (16 digits when valid). */
  spanId: string;
  parentSpanId: string | null;
  name: string;
  startMs: number;
  endMs: number;
  /** Status code ERROR. */
  error: boolean;
  attributes: ReadonlyMap<string, AttributeValue>;
  /** The attributes of the span's resource (service.name, ...). */
  resource: ReadonlyMap<string, AttributeValue>;
}

/** The body is not an ExportTraceServiceRequest: answered 400. */
export class OtlpDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OtlpDecodeError';
  }
}

export type OtlpFormat = 'protobuf' | 'json';

const STATUS_CODE_ERROR = 2;

/** An ExportTraceServiceRequest in protobuf (application/x-protobuf). */
export function decodeProtobuf(body: Buffer): OtlpSpan[] {
  let message: Record<string, unknown>;
  try {
    const decoded = OtlpMessages.request.decode(body);
    message = OtlpMessages.request.toObject(decoded, { longs: String, oneofs: false });
  } catch (err) {
    throw new OtlpDecodeError(`not a protobuf ExportTraceServiceRequest: ${(err as Error).message}`);
  }
  return readRequest(message, 'bytes');
}

/**
 * An ExportTraceServiceRequest in OTLP's JSON mapping (application/json): lowerCamelCase field names, trace and span
 * ids in hex, 64-bit integers as decimal strings (numbers are taken too), enums as integers.
 */
export function decodeJson(body: unknown): OtlpSpan[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new OtlpDecodeError('the body must be a JSON ExportTraceServiceRequest object');
  }
  return readRequest(body as Record<string, unknown>, 'hex');
}

/** The ExportTraceServiceResponse: partialSuccess only when spans were refused (OTLP/HTTP "Partial Success"). */
export function encodeResponse(
  format: OtlpFormat,
  rejectedSpans: number,
  errorMessage: string,
): Buffer | Record<string, unknown> {
  const partial = rejectedSpans > 0 ? { partialSuccess: { rejectedSpans, errorMessage } } : {};
  if (format === 'json') {
    // proto3's JSON mapping writes int64 as a decimal string
    return rejectedSpans > 0
      ? { partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage } }
      : {};
  }
  return Buffer.from(OtlpMessages.response.encode(OtlpMessages.response.fromObject(partial)).finish());
}

type Obj = Record<string, unknown>;

function readRequest(request: Obj, ids: 'bytes' | 'hex'): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  for (const resourceSpans of list(request, 'resourceSpans')) {
    const resourceObj = resourceSpans.resource;
    const resource = readAttributes(isObj(resourceObj) ? resourceObj.attributes : undefined);
    for (const scopeSpans of list(resourceSpans, 'scopeSpans')) {
      for (const span of list(scopeSpans, 'spans')) {
        const status = isObj(span.status) ? span.status : {};
        const parent = readId(span.parentSpanId, ids);
        spans.push({
          traceId: readId(span.traceId, ids),
          spanId: readId(span.spanId, ids),
          parentSpanId: parent === '' ? null : parent,
          name: typeof span.name === 'string' ? span.name : '',
          startMs: nanosToMs(span.startTimeUnixNano),
          endMs: nanosToMs(span.endTimeUnixNano),
          error: status.code === STATUS_CODE_ERROR || status.code === 'STATUS_CODE_ERROR',
          attributes: readAttributes(span.attributes),
          resource,
        });
      }
    }
  }
  return spans;
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A repeated message field: absent is empty; anything but an array of objects is not OTLP. */
function list(parent: Obj, field: string): Obj[] {
  const v = parent[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every(isObj)) throw new OtlpDecodeError(`${field} must be an array of objects`);
  return v;
}

function readId(v: unknown, ids: 'bytes' | 'hex'): string {
  if (v === undefined || v === null) return '';
  if (ids === 'bytes') return v instanceof Uint8Array ? Buffer.from(v).toString('hex') : '';
  return typeof v === 'string' ? v.toLowerCase() : '';
}

/** fixed64 nanoseconds since the epoch (a decimal string, or a number in JSON) as epoch milliseconds; 0 when unset. */
function nanosToMs(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.floor(v / 1e6) : 0;
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return Number(BigInt(v) / 1_000_000n);
  return 0;
}

function readAttributes(v: unknown): Map<string, AttributeValue> {
  const out = new Map<string, AttributeValue>();
  if (!Array.isArray(v)) return out;
  for (const kv of v) {
    if (!isObj(kv) || typeof kv.key !== 'string' || !isObj(kv.value)) continue;
    const value = readValue(kv.value);
    if (value !== undefined) out.set(kv.key, value);
  }
  return out;
}

function readValue(any: Obj): AttributeValue | undefined {
  if (typeof any.stringValue === 'string') return any.stringValue;
  if (typeof any.boolValue === 'boolean') return any.boolValue;
  if (any.intValue !== undefined && any.intValue !== null) {
    const n = Number(any.intValue);
    return typeof any.intValue !== 'boolean' && Number.isFinite(n) && String(any.intValue).trim() !== ''
      ? n
      : undefined;
  }
  if (typeof any.doubleValue === 'number') return any.doubleValue;
  // JSON may write non-finite doubles as strings ("NaN", "Infinity"); no GenAI attribute burnrate reads is one
  return undefined;
}
