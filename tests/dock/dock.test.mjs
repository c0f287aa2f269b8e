// The dock in Chromium against a real bridgedockd supervising real fixture servers.
// Run: node --test tests/dock/  (or tests/dock/run for everything).

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { card, dockFixtures, fixtures, freePort, launchBrowser, openDock as openDockIn, shotPath, startDaemon, tempDir, text, toml, waitFor } from './lib.mjs';

const py = (file, ...args) => ({ command: 'python3', args: [file, ...args] });

const SERVERS = {
  time: { ...py(path.join(fixtures, 'stable.py')), restart: 'always', version: '2025.9.25' },
  demo: { ...py(path.join(fixtures, '../../engine/src/demo/demo_server.py')) },
  crashy: { ...py(path.join(fixtures, 'crasher.py'), '--after-ms', 200, '--code', 3, '--stderr-lines', 3), restart: 'always' },
  oneshot: { ...py(path.join(fixtures, 'crasher.py'), '--after-ms', 300, '--code', 2, '--stderr-lines', 2), restart: 'never' },
  missing: { command: 'definitely-missing-xyz' },
  colors: { ...py(path.join(dockFixtures, 'colors.py')), restart: 'never' },
  chatter: { ...py(path.join(dockFixtures, 'chatter.py'), '--rate', 40), restart: 'never', autostart: false },
};

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const openDock = (d, opts) => openDockIn(browser, d, opts);

describe('dock with a live bridgedockd', () => {
  let d;
  before(async () => {
    d = await startDaemon({ config: toml(SERVERS) });
    // let the one-shot crash and the crasher enter backoff
    await waitFor(async () => (await d.status()).servers.find((s) => s.name === 'oneshot').state === 'crashed', { what: 'oneshot crashed' });
  });
  after(async () => {
    await d?.stop();
  });

  it('loads with live state, hides the token and matches /api/status', async () => {
    const { page, context, errors } = await openDock(d);
    assert.ok(!page.url().includes('token'), `token left in the URL: ${page.url()}`);
    const status = await d.status();
    for (const s of status.servers) assert.equal(await card(page, s.name).count(), 1, `card for ${s.name}`);
    const time = status.servers.find((s) => s.name === 'time');
    await waitFor(async () => (await text(card(page, 'time').locator('[data-testid=pid]'))) === String(time.pid), { what: 'time pid' });
    assert.equal(await text(card(page, 'time').locator('[data-testid=badge]')), 'Running');
    assert.match(await text(page.locator('#aggregate')), /ready/);
    assert.equal(await text(page.locator('#bridge-address')), status.bridge.address);
    const ws = await text(card(page, 'time').locator('.endpoint code').first());
    assert.equal(ws, `ws://${status.bridge.address}/mcp/time`);
    // the uptime ticks by itself
    const u1 = await text(card(page, 'time').locator('[data-testid=uptime]'));
    await page.waitForTimeout(2100);
    const u2 = await text(card(page, 'time').locator('[data-testid=uptime]'));
    assert.notEqual(u1, u2, 'uptime is live');
    assert.match(await text(page.locator('#clients-empty')), /No clients connected yet/);
    await page.screenshot({ path: shotPath('overview-light'), fullPage: true });
    // a reload keeps working: the token was remembered for this tab
    await page.reload();
    await page.waitForSelector('#app[data-ready]');
    assert.deepEqual(errors, []);
    await context.close();
    const dark = await openDock(d, { scheme: 'dark' });
    await dark.page.screenshot({ path: shotPath('overview-dark'), fullPage: true });
    await dark.context.close();
  });

  it('Restart shows its progress, then a new pid, and the new stderr line live', async () => {
    const { page, context } = await openDock(d);
    const before = (await d.status()).servers.find((s) => s.name === 'time');
    // hold the POST a moment so the in-progress state is observable
    await page.route('**/api/servers/time/restart', async (route) => {
      await new Promise((r) => setTimeout(r, 800));
      await route.continue();
    });
    const btn = card(page, 'time').locator('button[data-action=restart]');
    await btn.click();
    await waitFor(async () => (await text(btn)) === 'Restarting…' && (await btn.isDisabled()), { what: 'Restarting… button' });
    await card(page, 'time').screenshot({ path: shotPath('card-restarting-light') });
    await waitFor(async () => (await text(btn)) === 'Restart', { what: 'restart to finish' });
    const after = (await d.status()).servers.find((s) => s.name === 'time');
    assert.notEqual(after.pid, before.pid);
    assert.equal(after.restarts, before.restarts + 1);
    await waitFor(async () => (await text(card(page, 'time').locator('[data-testid=pid]'))) === String(after.pid), { what: 'new pid on the card' });
    assert.equal(await text(card(page, 'time').locator('[data-testid=restarts]')), String(after.restarts));
    await page.selectOption('#log-server', 'time');
    await waitFor(async () => (await page.locator('.log-row', { hasText: `stable: up pid ${after.pid}` }).count()) === 1, { what: 'new stderr line' });
    await context.close();
  });

  it('restarting the demo shows its "ready" line again', async () => {
    const { page, context } = await openDock(d);
    await page.selectOption('#log-server', 'demo');
    await page.fill('#log-search', 'ready');
    await page.press('#log-search', 'Enter');
    const before = await page.locator('.log-row.st-stderr').count();
    await card(page, 'demo').locator('button[data-action=restart]').click();
    await waitFor(async () => (await page.locator('.log-row.st-stderr').count()) === before + 1, { what: 'a second ready line' });
    assert.ok((await page.locator('.log-row mark').count()) >= 1, 'matches are highlighted');
    await context.close();
  });

  it('a crash-looping server shows its attempt and a live countdown', async () => {
    const { page, context } = await openDock(d);
    const detail = card(page, 'crashy').locator('[data-testid=detail]');
    // wait for a backoff long enough to watch the countdown (attempt ≥ 3: 4 s or more)
    const first = await waitFor(
      async () => {
        const t = await text(detail);
        const m = /^attempt (\d+) — next try in (\d+) s$/.exec(t);
        return m && Number(m[2]) >= 3 ? m : null;
      },
      { timeout: 40_000, what: 'a backoff countdown of 3 s or more' },
    );
    assert.equal(await text(card(page, 'crashy').locator('[data-testid=badge]')), 'Restarting');
    await page.waitForTimeout(1050);
    const m2 = /^attempt (\d+) — next try in (\d+) s$/.exec(await text(detail));
    assert.ok(m2, 'still counting down');
    assert.equal(m2[1], first[1], 'same attempt');
    assert.ok(Number(m2[2]) < Number(first[2]), `countdown went down: ${first[2]} → ${m2[2]}`);
    assert.match(await text(page.locator('#aggregate')), /restarting/);
    await card(page, 'crashy').screenshot({ path: shotPath('card-backoff-light') });
    await context.close();
  });

  it('a crashed server shows its exit and last stderr; no-command shows its hint', async () => {
    const { page, context } = await openDock(d);
    const oneshot = card(page, 'oneshot');
    assert.equal(await text(oneshot.locator('[data-testid=badge]')), 'Crashed');
    assert.match(await text(oneshot.locator('.panel-title')), /exited with code 2/);
    assert.match(await text(oneshot.locator('.stderr')), /crasher: line 1\s+crasher: line 2/);
    const missing = card(page, 'missing');
    assert.equal(await text(missing.locator('[data-testid=badge]')), 'Not installed');
    assert.match(await text(missing.locator('[data-testid=hint]')), /install it/);
    assert.match(await text(missing.locator('.panel-title')), /definitely-missing-xyz/);
    await oneshot.screenshot({ path: shotPath('card-crashed-light') });
    await missing.screenshot({ path: shotPath('card-no-command-light') });
    await context.close();
    const dark = await openDock(d, { scheme: 'dark' });
    await card(dark.page, 'oneshot').screenshot({ path: shotPath('card-crashed-dark') });
    await card(dark.page, 'missing').screenshot({ path: shotPath('card-no-command-dark') });
    await dark.context.close();
  });

  it('log filters: source, stream, level, text with highlight; ANSI colours on and off', async () => {
    const { page, context } = await openDock(d);
    const rows = page.locator('.log-row');
    await page.waitForSelector('.log-row');
    await page.selectOption('#log-stream', 'bridge');
    await waitFor(async () => (await page.locator('.log-row.st-stderr').count()) === 0 && (await rows.count()) > 0, { what: 'only bridge rows' });
    await page.selectOption('#log-stream', '');
    await page.selectOption('#log-level', 'error');
    await waitFor(async () => (await page.locator('.log-row:not(.lvl-error):not(.log-marker)').count()) === 0 && (await rows.count()) > 0, {
      what: 'only error rows',
    });
    await page.selectOption('#log-level', 'any');
    await page.selectOption('#log-server', 'colors');
    await page.selectOption('#log-stream', 'stderr');
    await waitFor(async () => (await rows.count()) === 4, { what: 'the four colour lines' });
    assert.equal(await page.locator('.log-row .ansi-fg-1').first().textContent(), 'ERROR');
    assert.equal(await page.locator('.log-row .ansi-bold').first().textContent(), 'OK');
    await page.fill('#log-search', 'BOLD green');
    await waitFor(async () => (await rows.count()) === 1, { what: 'text filter' });
    assert.equal(await page.locator('.log-row mark').textContent(), 'bold green');
    assert.match(await text(page.locator('#log-count')), /^1 of [\d,]+ lines$/);
    await page.fill('#log-search', '');
    await page.uncheck('#log-ansi');
    await waitFor(async () => (await page.locator('.log-row [class^=ansi-]').count()) === 0, { what: 'colours stripped' });
    assert.ok(!(await page.locator('.log-viewport').textContent()).includes('\x1b'));
    await page.check('#log-ansi');
    await page.fill('#log-search', 'no line says this');
    await waitFor(async () => (await text(page.locator('.log-empty'))) === 'No lines match the filter.', { what: 'no-match state' });
    await page.fill('#log-search', 'colours');
    await page.selectOption('#log-server', '');
    await page.waitForTimeout(300);
    await page.locator('.logs').screenshot({ path: shotPath('logs-filtered-light') });
    await context.close();
  });

  it('follow, pause on scroll up, "N new lines ↓" resumes; clear and download', async () => {
    await d.post('/api/servers/chatter/start');
    try {
      const { page, context } = await openDock(d);
      await page.selectOption('#log-server', 'chatter');
      const shown = async () => Number(/^[\d,]+/.exec(await text(page.locator('#log-count')))[0].replace(/,/g, ''));
      await waitFor(async () => (await shown()) > 100, { what: 'enough chatter' });
      // virtualized: far fewer rows in the DOM than lines in the view
      assert.ok((await page.locator('.log-row').count()) < 60);
      assert.equal(await text(page.locator('#log-follow')), 'Following');
      await page.hover('#log-viewport');
      await page.mouse.wheel(0, -600);
      await waitFor(async () => (await text(page.locator('#log-follow'))) === 'Paused — follow', { what: 'paused' });
      const newBtn = page.locator('#log-new');
      await waitFor(async () => /^\d[\d,]* new lines? ↓$/.test(await text(newBtn)) && (await newBtn.isVisible()), { what: 'new lines button' });
      await page.locator('.logs').screenshot({ path: shotPath('logs-paused-light') });
      await newBtn.click();
      await waitFor(async () => (await text(page.locator('#log-follow'))) === 'Following', { what: 'following again' });
      const atBottom = await page.evaluate(() => {
        const v = document.getElementById('log-viewport');
        return v.scrollTop + v.clientHeight >= v.scrollHeight - 20;
      });
      assert.ok(atBottom, 'jumped to the newest line');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#log-download')]);
      assert.match(download.suggestedFilename(), /^bridgedock-\d{8}-\d{6}\.log$/);
      await page.click('#log-clear');
      const n = await shown();
      assert.ok(n < 20, `cleared (${n} lines left)`);
      await context.close();
    } finally {
      await d.post('/api/servers/chatter/stop');
    }
  });

  it('states the bridge will produce (failed, version mismatch, clients, missed lines) render from injected events', async () => {
    // The event stream is proxied so synthetic events can be added: reaching `failed` takes
    // ~4 min of real crashes (10 in 5 min with 1…60 s backoff), and versions and clients need
    // the bridge, which is not built yet.
    for (const scheme of ['light', 'dark']) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: scheme });
      const page = await context.newPage();
      let pageSide;
      const held = new Set(['time', 'crashy']);
      await page.routeWebSocket(/\/api\/events/, (ws) => {
        pageSide = ws;
        const server = ws.connectToServer();
        ws.onMessage((m) => server.send(m));
        // Real changes to the servers whose state is injected are held back, so the
        // injected state stays put (crashy keeps crash-looping for real).
        server.onMessage((m) => {
          try {
            const ev = JSON.parse(m);
            if (ev.type === 'server' && held.has(ev.server.name)) return;
          } catch {
            /* pass through */
          }
          ws.send(m);
        });
      });
      await page.goto(d.url);
      await page.waitForSelector('#app[data-ready]');
      const status = await d.status();
      const time = status.servers.find((s) => s.name === 'time');
      const crashy = status.servers.find((s) => s.name === 'crashy');
      const now = Date.now();
      const send = (ev) => pageSide.send(JSON.stringify(ev));
      // time speaks 2026-07-28 here: no handshake, so nothing declared up front.
      send({ type: 'server', server: { ...time, reported_version: '2025.1', protocol_revision: '2026-07-28', declared_capabilities: null } });
      send({
        type: 'server',
        server: {
          ...crashy,
          state: 'failed',
          // What the engine says a failed server means (engine/src/status/meaning.rs).
          health: 'down',
          words: 'Failed',
          summary: 'failed (gave up)',
          actions: { start: true, stop: false, restart: true },
          pid: null,
          crashes: 10,
          window_secs: 300,
          last_stderr: ['crasher: line 1', 'crasher: line 2', 'Traceback (most recent call last):', 'RuntimeError: database is locked'],
        },
      });
      const client = {
        id: 'c1',
        server: 'time',
        transport: 'websocket',
        peer: '127.0.0.1:53122',
        client_name: 'claude-code',
        client_version: '2.0.14',
        protocol_version: '2025-06-18',
        protocol_mismatch: false,
        connected_at_ms: now - 125_000,
        last_activity_ms: now - 2_000,
        messages_in: 48,
        messages_out: 47,
        pending: 1,
        reconnects: 0,
      };
      send({ type: 'client', client });
      send({ type: 'client', client: { ...client, id: 'c2', server: 'demo', transport: 'http', client_name: 'Cursor', client_version: '0.48.2', protocol_version: '2024-11-05', protocol_mismatch: true, pending: 0, reconnects: 2, peer: '127.0.0.1:53190' } });
      send({ type: 'missed', count: 1234 });
      const banners = page.locator('.banner');
      await waitFor(async () => (await banners.count()) === 2, { what: 'two banners' });
      assert.match(await text(banners.nth(0)), /time reports 2025\.1 \(expected 2025\.9\.25\)/);
      assert.equal(await text(banners.nth(0).locator('button')), 'Restart time');
      assert.match(await text(banners.nth(1)), /Cursor 0\.48\.2 speaks MCP protocol 2024-11-05/);
      const failed = card(page, 'crashy');
      await waitFor(async () => (await text(failed.locator('[data-testid=badge]'))) === 'Failed', { what: 'failed badge' });
      assert.match(await text(failed.locator('.panel-title')), /gave up after 10 crashes in 5 min/);
      assert.match(await text(failed.locator('.stderr')), /database is locked/);
      assert.equal(await text(failed.locator('.panel button')), 'Retry');
      assert.equal(await page.locator('table.clients tbody tr').count(), 2);
      assert.equal(await text(card(page, 'time').locator('[data-testid=protocol]')), '2026-07-28');
      assert.equal(await text(card(page, 'time').locator('[data-testid=declared]')), 'none up front: each client’s own, with each request');
      await page.selectOption('#log-server', '');
      await waitFor(async () => (await page.locator('.log-marker', { hasText: '1234 lines skipped (the dock fell behind)' }).count()) === 1, { what: 'missed marker' });
      await page.screenshot({ path: shotPath(`injected-states-${scheme}`), fullPage: true });
      await failed.screenshot({ path: shotPath(`card-failed-${scheme}`) });
      // a client leaves
      send({ type: 'client-gone', id: 'c2', server: 'demo' });
      await waitFor(async () => (await page.locator('table.clients tbody tr').count()) === 1, { what: 'client gone' });
      await context.close();
    }
  });
});

describe('disconnect and recovery', () => {
  it('says it is disconnected, counts down, and recovers when bridgedockd comes back on the same port', async () => {
    const port = await freePort();
    const dir = tempDir();
    const config = toml({ time: SERVERS.time });
    let d = await startDaemon({ config, dir, port });
    const { page, context } = await openDock(d);
    try {
      const oldPid = (await d.status()).servers[0].pid;
      await page.selectOption('#log-server', 'time');
      await waitFor(async () => (await page.locator('.log-row', { hasText: `stable: up pid ${oldPid}` }).count()) === 1, { what: 'first stderr line' });
      await d.stop();
      const bar = page.locator('#disconnected');
      await waitFor(async () => /^Disconnected — reconnecting in \d+ s…/.test(await text(bar)), { what: 'disconnected bar' });
      assert.equal(await text(bar.locator('button')), 'Retry now');
      assert.equal(await text(page.locator('#aggregate')), 'Offline');
      assert.ok(await card(page, 'time').evaluate((el) => el.classList.contains('is-stale')));
      await page.waitForTimeout(2500); // let the backoff grow past the first retries
      await page.screenshot({ path: shotPath('disconnected-light'), fullPage: false });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: shotPath('disconnected-dark'), fullPage: false });
      await page.emulateMedia({ colorScheme: 'light' });
      d = await startDaemon({ config, dir, port });
      await bar.locator('button').click().catch(() => {}); // "Retry now" (it may already be reconnecting)
      await waitFor(async () => (await page.locator('#disconnected').count()) === 0 && (await text(page.locator('#aggregate'))) === '1 server ready', {
        timeout: 40_000,
        what: 'recovery',
      });
      const newPid = (await d.status()).servers[0].pid;
      await waitFor(async () => (await text(card(page, 'time').locator('[data-testid=pid]'))) === String(newPid), { what: 'new pid' });
      await waitFor(async () => (await page.locator('.log-row', { hasText: `stable: up pid ${newPid}` }).count()) === 1, { what: 'new daemon lines' });
      assert.equal(await page.locator('.log-row', { hasText: `stable: up pid ${oldPid}` }).count(), 1, 'old lines kept once, not duplicated');
      await page.selectOption('#log-server', '');
      assert.ok((await page.locator('.log-marker', { hasText: 'bridgedock restarted' }).count()) >= 0);
    } finally {
      await context.close();
      await d.stop();
    }
  });
});

describe('what a state means is the engine’s', () => {
  it('a server that exits by itself and is left down reads Exited, in red, with Start — as in the tray', async () => {
    const d = await startDaemon({
      config: toml({
        time: py(path.join(fixtures, 'stable.py')),
        once: { command: 'python3', args: ['-c', 'import sys; sys.stderr.write("once: done\\n")'] },
      }),
    });
    const { page, context } = await openDock(d);
    try {
      const once = card(page, 'once');
      await waitFor(async () => (await text(once.locator('[data-testid=badge]'))) === 'Exited', { what: 'the Exited badge' });
      assert.ok(await once.evaluate((el) => el.classList.contains('tone-down')), 'its card is in the red family');
      assert.match(await text(once), /exited with code 0 by itself, not restarted/);
      assert.equal(await once.locator('button[data-action=start]').isDisabled(), false);
      assert.equal(await once.locator('button[data-action=stop]').isDisabled(), true);
      // The header is the engine's overview, word for word.
      await waitFor(async () => (await text(page.locator('#aggregate'))) === '1 ready · 1 exited', { what: 'the overview' });
      const status = await d.status();
      assert.deepEqual(status.overview, { health: 'down', summary: '1 ready · 1 exited' });
      await page.screenshot({ path: shotPath('exited-by-itself'), fullPage: false });
    } finally {
      await context.close();
      await d.stop();
    }
  });
});
