// Makes docs/dock.png, the README's picture of the dock: a real bridgedockd with a server
// running (its version not the one the config expects: a banner), one starting with its
// download line, one not answering, one crash-looping with its countdown, one whose runtime is
// missing, a client session and the live logs. Not a test (node --test does not pick it up).
//
//   scripts/build-dock && node tests/dock/docs-shot.mjs [out.png]   (BRIDGEDOCKD=… for the binary)

import path from 'node:path';
import { card, fixtures, launchBrowser, openDock, repo, startDaemon, text, toml, waitFor } from './lib.mjs';

const out = process.argv[2] || path.join(repo, 'docs/dock.png');
const py = (file, ...args) => ({ command: 'python3', args: [file, ...args] });
const SERVERS = {
  demo: { ...py(path.join(repo, 'engine/src/demo/demo_server.py')), version: '1.1.0' },
  // As on a machine without Node.js: npx is not on its PATH.
  everything: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'], env: { PATH: '/nonexistent-bin' } },
  flaky: { ...py(path.join(fixtures, 'crasher.py'), '--after-ms', 300, '--code', 3, '--stderr-lines', 3), restart: 'always' },
  mute: { ...py(path.join(fixtures, 'mute.py')), start_timeout: '5s' },
  slow: py(path.join(fixtures, 'slow_start.py'), '--delay-s', 60),
};

const d = await startDaemon({ config: toml(SERVERS) });
const browser = await launchBrowser();
try {
  // A client on demo, as an MCP client would come: initialize over Streamable HTTP.
  const r = await fetch(`${d.api}/mcp/demo`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'example-client', version: '1.0.0' } } }),
  });
  await r.text();
  const { page, context } = await openDock(browser, d, { width: 1500, height: 1000 });
  await waitFor(async () => (await text(card(page, 'mute').locator('[data-testid=badge]'))) === 'Not answering', { what: 'mute not answering' });
  await waitFor(async () => /^attempt [3-9] — next try in [4-9] s$/.test(await text(card(page, 'flaky').locator('[data-testid=detail]'))), {
    timeout: 30_000,
    what: 'flaky in a visible backoff',
  });
  await waitFor(async () => /downloading/.test(await text(card(page, 'slow').locator('[data-testid=last-line]'))), { what: "slow's download line" });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`docs-shot: ${out}`);
  await context.close();
} finally {
  await browser.close();
  await d.stop();
}
