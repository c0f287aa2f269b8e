// The dock under load in Chromium: 100 000 buffered log lines and a live tail of 5 000 lines/s.
// Measures requestAnimationFrame deltas over 10 s (p50/p95/max) and the page's JS heap.
// Run through bench/dock/run, which builds everything first.

import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockFixtures, launchBrowser, startDaemon, toml, waitFor } from '../../tests/dock/lib.mjs';

const RATE = Number(process.env.RATE || 5000);
const WINDOW_MS = Number(process.env.WINDOW_MS || 10_000);
const TARGET_LINES = 100_000;
const here = path.dirname(fileURLToPath(import.meta.url));
const chatter = path.join(dockFixtures, 'chatter.py');

const config = toml({
  // fills the dock's ring fast, then goes quiet (stays up)
  prefill: { command: 'python3', args: [chatter, '--rate', 20000, '--prefix', 'prefill'], restart: 'never', autostart: false },
  tail: { command: 'python3', args: [chatter, '--rate', RATE, '--prefix', 'tail'], restart: 'never', autostart: false },
});

const d = await startDaemon({ config });
const browser = await launchBrowser(['--enable-precise-memory-info']);
const out = { rate: RATE, window_ms: WINDOW_MS };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await page.goto(d.url);
  await page.waitForSelector('#app[data-ready]');
  const count = async () => {
    const t = (await page.locator('#log-count').textContent()) ?? '';
    const m = /([\d,]+) lines$/.exec(t.trim());
    return m ? Number(m[1].replace(/,/g, '')) : 0;
  };
  // 1. fill the ring: prefill at 20 000 lines/s until the dock holds 100 000 lines
  await d.post('/api/servers/prefill/start');
  await waitFor(async () => (await count()) >= TARGET_LINES - 10_000, { timeout: 120_000, interval: 500, what: 'prefill' });
  await d.post('/api/servers/prefill/stop');
  // 2. live tail at RATE lines/s
  await d.post('/api/servers/tail/start');
  await waitFor(async () => (await count()) >= TARGET_LINES, { timeout: 60_000, interval: 500, what: '100 000 lines buffered' });
  await page.waitForTimeout(3000); // warm-up: the backlog is drained, the JIT has settled

  const measure = async (label) => {
    await cdp.send('HeapProfiler.collectGarbage');
    const before = await page.evaluate(() => (document.querySelector('#log-count')?.textContent ?? ''));
    await cdp.send('Performance.enable');
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const m0 = await metrics();
    const lines0 = await page.evaluate(() => window.__dockStats?.().received ?? 0);
    const frames = await page.evaluate(
      (ms) =>
        new Promise((resolve) => {
          const deltas = [];
          let last = performance.now();
          const end = last + ms;
          const tick = (t) => {
            deltas.push(t - last);
            last = t;
            if (t < end) requestAnimationFrame(tick);
            else resolve(deltas);
          };
          requestAnimationFrame((t) => {
            last = t;
            requestAnimationFrame(tick);
          });
        }),
      WINDOW_MS,
    );
    const lines1 = await page.evaluate(() => window.__dockStats?.().received ?? 0);
    const m1 = await metrics();
    const busy = (k) => +((100 * (m1[k] - m0[k])) / (WINDOW_MS / 1000)).toFixed(1);
    const heapNow = await cdp.send('Runtime.getHeapUsage');
    await cdp.send('HeapProfiler.collectGarbage');
    const heapGc = await cdp.send('Runtime.getHeapUsage');
    const perfMem = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? null);
    const s = frames.slice().sort((a, b) => a - b);
    const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    const domRows = await page.locator('.log-row').count();
    const r = {
      label,
      frames: s.length,
      p50_ms: +q(0.5).toFixed(1),
      p95_ms: +q(0.95).toFixed(1),
      p99_ms: +q(0.99).toFixed(1),
      max_ms: +s[s.length - 1].toFixed(1),
      over_16_7ms: s.filter((x) => x > 16.7 + 1).length,
      // share of wall time the page's main thread spent (all tasks / scripts / style+layout)
      main_thread_busy_pct: busy('TaskDuration'),
      script_pct: busy('ScriptDuration'),
      style_layout_pct: +(busy('RecalcStyleDuration') + busy('LayoutDuration')).toFixed(1),
      lines_per_s_received: Math.round(((lines1 - lines0) * 1000) / WINDOW_MS),
      buffered: before.trim(),
      dom_rows: domRows,
      heap_used_mb: +(heapNow.usedSize / 1048576).toFixed(1),
      heap_after_gc_mb: +(heapGc.usedSize / 1048576).toFixed(1),
      performance_memory_mb: perfMem === null ? null : +(perfMem / 1048576).toFixed(1),
    };
    console.log(JSON.stringify(r));
    return r;
  };

  out.following = await measure('following the live tail');
  await page.fill('#log-search', 'error');
  await page.press('#log-search', 'Enter');
  await page.waitForTimeout(1000);
  out.filtered = await measure('following, text filter "error" (highlighted)');
  await page.fill('#log-search', '');
  await page.press('#log-search', 'Enter');
  // paused in the middle of the buffer, scrolling steadily while the tail keeps coming
  await page.hover('#log-viewport');
  await page.mouse.wheel(0, -20_000);
  await page.evaluate(() => {
    const v = document.getElementById('log-viewport');
    let dir = -1;
    const step = () => {
      v.scrollTop += dir * 600;
      if (v.scrollTop <= 0) dir = 1;
      if (v.scrollTop + v.clientHeight >= v.scrollHeight - 2000) dir = -1;
      window.__scrollTimer = requestAnimationFrame(step);
    };
    v.scrollTop = v.scrollHeight / 2;
    window.__scrollTimer = requestAnimationFrame(step);
  });
  out.scrolling = await measure('paused, scrolling 600 px per frame');
  await page.evaluate(() => cancelAnimationFrame(window.__scrollTimer));
  await context.close();
} finally {
  await browser.close();
  await d.stop();
}
out.machine = { nproc: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version };
console.log(JSON.stringify(out, null, 2));
