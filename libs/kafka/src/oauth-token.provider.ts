import { getCACertificates } from 'node:tls';
import { requestText } from './http-request';

export interface ClientCredentials {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  /**
   * A CA (PEM) an https token endpoint may also be signed by, trusted besides the default CAs (NODE_EXTRA_CA_CERTS
   * included): the Kafka cluster's private CA, so an in-cluster identity provider works and a public one still does.
   */
  ca?: string;
}

export interface TokenProviderOptions {
  /** A token is fetched again once this share of its lifetime (`expires_in`) has passed. */
  refreshShare?: number;
  timeoutMs?: number;
  now?: () => number;
  /** Called when a refresh failed and the previous token, still valid, is used instead. */
  onStaleToken?: (err: Error) => void;
}

export class OAuthTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OAuthTokenError';
  }
}

interface Token {
  value: string;
  refreshAt: number;
  expiresAt: number;
}

/**
 * Access tokens of the OAuth 2.0 client-credentials grant (RFC 6749 §4.4) for SASL/OAUTHBEARER. kafkajs asks for one
 * whenever it authenticates a connection; the same token is handed out until 80% of its lifetime has passed, then one
 * request fetches the next, however many connections ask at once. If that request fails while the previous token is
 * still valid, the previous one is used. A token without `expires_in` is used once. Errors name the endpoint and the
 * HTTP status, never the secret.
 */
export class ClientCredentialsTokenProvider {
  private readonly endpoint: string;
  private readonly ca: string[] | undefined;
  private readonly refreshShare: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private token: Token | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly credentials: ClientCredentials,
    private readonly options: TokenProviderOptions = {},
  ) {
    const url = new URL(credentials.tokenUrl);
    this.endpoint = `${url.origin}${url.pathname}`;
    this.ca = credentials.ca ? [...getCACertificates('default'), credentials.ca] : undefined;
    this.refreshShare = options.refreshShare ?? 0.8;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async accessToken(): Promise<string> {
    if (this.token && this.now() < this.token.refreshAt) return this.token.value;
    this.pending ??= this.fetchToken().finally(() => (this.pending = undefined));
    try {
      return await this.pending;
    } catch (err) {
      if (this.token && this.now() < this.token.expiresAt) {
        this.options.onStaleToken?.(err as Error);
        return this.token.value;
      }
      throw err;
    }
  }

  private async fetchToken(): Promise<string> {
    const { clientId, clientSecret, scope } = this.credentials;
    const sentAt = this.now();
    const res = await requestText(this.credentials.tokenUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        // RFC 6749 §2.3.1: the id and the secret are form-encoded, then joined and base64-encoded
        authorization: `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope && { scope }) }).toString(),
      ca: this.ca,
      timeoutMs: this.timeoutMs,
    }).catch((err: Error) => {
      throw new OAuthTokenError(`token request to ${this.endpoint} failed: ${err.message}`);
    });
    const answer = parseJson(res.body);
    if (res.status !== 200) {
      const code = typeof answer?.error === 'string' ? ` (${answer.error.slice(0, 100)})` : '';
      throw new OAuthTokenError(`token request to ${this.endpoint} failed: HTTP ${res.status}${code}`);
    }
    const value = answer?.access_token;
    if (typeof value !== 'string' || value === '')
      throw new OAuthTokenError(`token endpoint ${this.endpoint} answered HTTP 200 without an access_token`);
    const lifetimeMs = Number(answer?.expires_in) * 1000;
    this.token =
      lifetimeMs > 0
        ? { value, refreshAt: sentAt + lifetimeMs * this.refreshShare, expiresAt: sentAt + lifetimeMs }
        : undefined;
    return value;
  }
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice('v='.length);
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
