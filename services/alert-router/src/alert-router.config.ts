import {
  DEFAULT_RETRY_SCHEDULES,
  DestinationAllowList,
  formatRetrySchedule,
  parseRetrySchedule,
  type Destination,
  type RetrySchedule,
} from '@libs/alerting';
import { commonSpec, int, optionalStr, optionalUrl, pemFile, str, url, type Field } from '@libs/config';

/** Entries checked at start-up: a bad one stops the process with the others' problems. */
const allowList = (): Field<readonly string[]> => ({
  describe: 'comma-separated hostnames, host:port pairs and CIDRs',
  parse: (raw) => DestinationAllowList.parse(raw).entries,
});

/** `<first retry>,<longest delay>,<give up after>` (e.g. 15s,10m,1h): a bad one stops the process, naming it. */
const retrySchedule = (type: Destination['type']): Field<RetrySchedule> => ({
  describe: `<first retry>,<longest delay>,<give up after> (default ${formatRetrySchedule(DEFAULT_RETRY_SCHEDULES[type])})`,
  parse: (raw) =>
    raw === undefined || raw.trim() === '' ? DEFAULT_RETRY_SCHEDULES[type] : parseRetrySchedule(raw),
});

export const alertRouterSpec = {
  ...commonSpec,
  PORT: int(9104, { min: 1, max: 65535 }),
  CONSUMER_GROUP: str('burnrate-alert-router'),
  /**
   * Where people open burnrate (the console, as they reach it): messages link to PUBLIC_URL/incidents/<id>. Unset:
   * messages carry no link (never one to an API endpoint that needs a bearer key).
   */
  PUBLIC_URL: optionalUrl(),
  PAGERDUTY_EVENTS_URL: url('https://events.pagerduty.com/v2/enqueue'),
  /** YAML file of routes (e.g. a mounted ConfigMap), in addition to routes made through the api. */
  ROUTES_FILE: optionalStr(),
  /** smtp://user:password@host:587 or smtps://…; the password never reaches a log. */
  SMTP_URL: optionalStr(),
  /** The CA the SMTP server's certificate (smtps:// or STARTTLS) is checked against, instead of the default ones. */
  SMTP_CA_FILE: pemFile(),
  SMTP_FROM: str('burnrate <alerts@burnrate.local>'),
  POLL_MS: int(500, { min: 50 }),
  /**
   * Retries per destination type, each `<first retry>,<longest delay>,<give up after>` in durations (ms, s, m, h, d):
   * exponential backoff from the first retry, doubling up to the longest delay, with full jitter; a Retry-After is
   * honoured up to the longest delay; a delivery still failing once older than the last is given up (failed). So
   * retries outlast an outage of up to that long, whatever the number of attempts.
   */
  RETRY_PAGERDUTY: retrySchedule('pagerduty'),
  RETRY_SLACK: retrySchedule('slack'),
  RETRY_TEAMS: retrySchedule('teams'),
  RETRY_EMAIL: retrySchedule('email'),
  RETRY_WEBHOOK: retrySchedule('webhook'),
  /** Each attempt as a whole: name check, connect, answer. */
  HTTP_TIMEOUT_MS: int(10000, { min: 100 }),
  /** Sends in flight at once; each destination has its own lane, one send at a time. */
  DELIVERY_CONCURRENCY: int(16, { min: 1, max: 1024 }),
  /**
   * Destinations a tenant may send to although they resolve to internal addresses (loopback, private, link-local,
   * CGNAT…) or have cluster-internal names: hostnames, host:port pairs, CIDRs. Empty: none.
   */
  ALERT_DESTINATION_ALLOWLIST: allowList(),
};
