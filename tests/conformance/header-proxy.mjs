#!/usr/bin/env node
// TEST HELPER: a tiny reverse proxy that adds one header (bridgedock's bearer token) to every
// request. The conformance CLI takes only --url, and two 0.2.0-alpha.12 scenarios
// (http-header-validation, http-custom-header-server-validation) build their requests from the
// URL's path alone, dropping ?token=; through this proxy they still reach bridgedock.
//
//   PROXY_HEADER="Authorization: Bearer TOKEN" node header-proxy.mjs --target http://127.0.0.1:P
//
// (the header comes by environment, to keep the token out of `ps`). Listens on a free port of
// 127.0.0.1 and prints `header-proxy: listening on http://127.0.0.1:N`; http://127.0.0.1:N/PATH
// is the target's /PATH. The client's headers go through unchanged, except that a Host or
// Origin naming the proxy itself is made to name the target (a foreign one, like a
// DNS-rebinding test's, goes through as sent). Responses stream through unbuffered, so SSE
// keeps its timing.

import http from 'node:http';

const target = new URL(process.argv[process.argv.indexOf('--target') + 1]);
const raw = process.env.PROXY_HEADER ?? '';
const colon = raw.indexOf(':');
if (colon < 1) {
  process.stderr.write('header-proxy: set PROXY_HEADER="Name: value"\n');
  process.exit(2);
}
const [headerName, headerValue] = [raw.slice(0, colon).trim().toLowerCase(), raw.slice(colon + 1).trim()];

const server = http.createServer((req, res) => {
  const self = `127.0.0.1:${server.address().port}`;
  const headers = { ...req.headers, [headerName]: headerValue };
  if (headers.host === self) headers.host = target.host;
  if (headers.origin === `http://${self}`) headers.origin = target.origin;
  const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (ur) => {
    res.writeHead(ur.statusCode, ur.statusMessage, ur.rawHeaders);
    res.flushHeaders();
    ur.pipe(res);
  });
  up.on('error', (e) => (res.headersSent ? res.destroy() : res.writeHead(502).end(e.message)));
  res.on('close', () => res.writableEnded || up.destroy()); // the client hung up: so do we
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`header-proxy: listening on http://127.0.0.1:${server.address().port}\n`));
for (const s of ['SIGTERM', 'SIGINT'])
  process.on(s, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
