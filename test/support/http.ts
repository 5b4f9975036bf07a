import { request } from 'node:http';

/**
 * POSTs a request that announces a body of `bytes` (Content-Length) and sends none of it, and returns the answer: the
 * server must refuse an oversized body from the header alone. (A client that sends the body races the 413: the server
 * closes while it is still writing, and fetch reports EPIPE about as often as the answer, more so on a busy machine.)
 */
export function postAnnouncing(
  url: string,
  headers: Record<string, string>,
  bytes: number,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers, 'content-length': bytes },
      timeout: 10_000,
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        req.destroy();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () =>
      req.destroy(new Error(`${url}: no answer to a ${bytes}-byte Content-Length in 10 s`)),
    );
    req.on('error', reject);
    req.flushHeaders();
  });
}
