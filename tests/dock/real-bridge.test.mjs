// The dock in Chromium against a real bridgedockd with real fixture servers: live state,
// Restart (state changes visibly, the pid changes), live stderr, a crashing server's attempts
// and countdown, a version-mismatch banner, log filters, a missing runtime's hint, client setup,
// and the disconnected state recovering. A screenshot of each state goes to tests/artifacts/dock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';
import { chromium } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '../..');
const TARGET = process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache/bridgedock-target');
const BIN = process.env.BRIDGEDOCKD ?? join(TARGET, 'debug/bridgedockd');
const SHOTS = join(ROOT, 'tests/artifacts/dock');
mkdirSync(SHOTS, { recursive: true });

const dir = mkdtempSync(join(tmpdir(), 'bd-dock-'));
const config = join(dir, 'config.toml');
writeFileSync(config, `
[servers.demo]
command = "python3"
args = ["${ROOT}/engine/src/demo/demo_server.py"]
version = "9.9.9"

[servers.flaky]
command = "python3"
args = ["${ROOT}/tests/fixtures/crasher.py", "--after-ms", "200", "--code", "3", "--stderr-lines", "2"]
restart = "always"

[servers.missing]
command = "definitely-not-installed-xyz"
`);

let daemon, port, token, browser, page;

async function freePort() {
  return new Promise((ok) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => ok(p));
    });
  });
}

function startDaemon() {
  return new Promise((ok, fail) => {
    const p = spawn(BIN, ['serve', '--port', String(port), '--config', config,
      '--state-dir', join(dir, 'state'), '--config-dir', join(dir, 'cfg'), '--dock-dir', join(ROOT, 'ui/dist')],
      { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('dock at ')) ok(p);
    });
    p.on('exit', (code) => fail(new Error(`bridgedockd exited ${code}`)));
  });
}

function stopDaemon(p) {
  return new Promise((ok) => {
    if (p.exitCode !== null) return ok(p.exitCode);
    p.on('exit', (code) => ok(code));
    p.kill('SIGTERM');
  });
}

async function api(path, init = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  return r.json();
}

const server = async (name) => (await api('/api/status')).servers.find((s) => s.name === name);
const card = (name) => page.locator(`.card[data-server="${name}"]`);
const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

async function until(what, check, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  port = await freePort();
  daemon = await startDaemon();
  token = readFileSync(join(dir, 'cfg/token'), 'utf8').trim();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write']);
  page = await ctx.newPage();
  await page.goto(`http://127.0.0.1:${port}/#token=${token}`);
});

after(async () => {
  await browser?.close();
  if (daemon) assert.equal(await stopDaemon(daemon), 0, 'bridgedockd exits 0 on SIGTERM');
});

test('the page shows every server live, with the aggregate state in the header', async () => {
  await card('demo').locator('text=Running').waitFor();
  assert.equal(await page.locator('.card').count(), 3);
  const header = await page.locator('header').innerText();
  assert.match(header, /ready/);
  assert.ok(!(await page.url()).includes('token='), 'the token is taken out of the visible URL');
  await shot('01-live');
});

test('Restart in the dock changes the state visibly and the pid changes; stderr appears live', async () => {
  const before = (await server('demo')).pid;
  await card('demo').getByRole('button', { name: 'Restart demo' }).click();
  const after = await until('a new demo pid', async () => {
    const s = await server('demo');
    return s.state === 'running' && s.pid !== before ? s.pid : null;
  });
  await card('demo').locator(`text=${after}`).first().waitFor();
  // The view is virtualized and the crashing server is chatty: look at demo's lines, as a user would.
  await page.selectOption('#log-server', 'demo');
  const line = page.locator('.log-rows > *', { hasText: `demo server 1.0.0 ready (pid ${after}` });
  await line.waitFor({ timeout: 15000 });
  await shot('02-restarted');
  await page.selectOption('#log-server', '');
});

test('a crashing server shows its attempt and a live countdown', async () => {
  const attempt = card('flaky').locator('text=/attempt \\d+ — next try in \\d+ s/');
  await attempt.waitFor({ timeout: 20000 });
  const first = await attempt.innerText();
  const second = await until('the countdown to move', async () => {
    const t = await card('flaky').locator('text=/attempt \\d+ — next try in \\d+ s/').innerText().catch(() => '');
    return t && t !== first ? t : null;
  }, 20000);
  assert.notEqual(first, second);
  await shot('03-backoff');
});

test('a missing runtime shows its install hint', async () => {
  const text = await card('missing').innerText();
  assert.match(text, /not found on PATH/);
  assert.match(text, /install it, give its absolute path/);
});

test('a server reporting another version than expected raises a banner with Restart', async () => {
  // An MCP client initializes through the bridge: the server reports 1.0.0, the config expects 9.9.9.
  const r = await fetch(`http://127.0.0.1:${port}/mcp/demo`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'dock-test', version: '1' } } }),
  });
  assert.equal(r.status, 200);
  const banner = page.locator('.banner', { hasText: 'demo reports 1.0.0 (expected 9.9.9)' });
  await banner.waitFor({ timeout: 10000 });
  assert.ok(await banner.getByRole('button').count() > 0, 'the banner offers its action');
  await page.locator('text=dock-test').first().waitFor({ timeout: 10000 });
  await shot('04-version-banner');
});

test('log filters narrow the view by server and by text', async () => {
  await page.selectOption('#log-server', 'flaky');
  await until('only flaky rows', async () => {
    const rows = await page.locator('.log-rows > *').allInnerTexts();
    return rows.length > 0 && rows.every((r) => r.includes('flaky')) ? rows : null;
  });
  await page.fill('#log-search', 'crasher: line 2');
  await until('only matching rows', async () => {
    const rows = await page.locator('.log-rows > *').allInnerTexts();
    return rows.length > 0 && rows.every((r) => r.includes('crasher: line 2')) ? rows : null;
  });
  assert.ok(await page.locator('.log-rows mark').count() > 0, 'matches are highlighted');
  await shot('05-filtered');
  await page.selectOption('#log-server', '');
  await page.fill('#log-search', '');
});

test('the setup for an AI client is one click away', async () => {
  await card('demo').getByRole('button', { name: /Claude Code setup for demo/ }).click();
  const copied = await until('the clipboard', () => page.evaluate(() => navigator.clipboard.readText()));
  assert.equal(copied, `claude mcp add --transport http demo http://127.0.0.1:${port}/mcp/demo --header "Authorization: Bearer ${token}"`);
});

test('when bridgedock goes away the dock says so, and it recovers by itself', async () => {
  assert.equal(await stopDaemon(daemon), 0);
  await page.locator('#disconnected').waitFor({ timeout: 15000 });
  assert.match(await page.locator('#disconnected').innerText(), /reconnect/i);
  await shot('06-disconnected');
  daemon = await startDaemon();
  await page.locator('#disconnected').waitFor({ state: 'detached', timeout: 40000 }).catch(async () => {
    await page.locator('#disconnected').waitFor({ state: 'hidden', timeout: 1000 });
  });
  await card('demo').locator('text=Running').waitFor({ timeout: 15000 });
  await shot('07-reconnected');
});
