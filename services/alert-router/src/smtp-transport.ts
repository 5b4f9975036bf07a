import type { PemFile } from '@libs/config';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';

/**
 * nodemailer's options for SMTP_URL, as `createTransport(url)` reads it, with SMTP_CA_FILE (when set) as the CA that
 * smtps:// and STARTTLS check the server's certificate against instead of the default ones. The URL is parsed here
 * because `createTransport({ url, tls })` keeps only what the URL says and drops `tls`.
 */
export function smtpTransportOptions(smtpUrl: string, ca?: PemFile): SMTPTransport.Options {
  const options = parseConnectionUrl(smtpUrl);
  return ca ? { ...options, tls: { ...options.tls, ca: ca.pem } } : options;
}
