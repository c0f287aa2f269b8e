// "Ready means the server answers", as the dock shows it, in Chromium against a real
// bridgedockd: a server that takes 6 s to start (as a cold `npx -y` does while it downloads) is
// Starting, counting, with its download progress, and then Running with the protocol bridgedock
// speaks with it; a process that never answers is Not answering (alive, not crashed) after its
// 2 s start_timeout, with the reason, its last line, and a Restart that works.
// Screenshots of both states, light and dark, go to tests/artifacts/dock/.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { card, fixtures, launchBrowser, openDock, shotPath, startDaemon, text, toml, waitFor } from './lib.mjs';

const SERVERS = {
  slow: { command: 'python3', args: [path.join(fixtures, 'slow_start.py'), '--delay-s', 6] },
  mute: { command: 'python3', args: [path.join(fixtures, 'mute.py')], start_timeout: '2s' },
};

const PROGRESS = /^slow_start: downloading (\d+)%$/;

describe('ready means the server answers', () => {
  let browser;
  let d;
  before(async () => {
    browser = await launchBrowser();
    d = await startDaemon({ config: toml(SERVERS) });
  });
  after(async () => {
    await d?.stop();
    await browser?.close();
  });

  const server = async (name) => (await d.status()).servers.find((s) => s.name === name);

  it('a slow server is Starting, counting, with its download progress, then Running', async () => {
    const { page, context, errors } = await openDock(browser, d);
    const slow = card(page, 'slow');
    const badge = slow.locator('[data-testid=badge]');
    const detail = slow.locator('[data-testid=detail]');
    const line = slow.locator('[data-testid=last-line]');
    assert.equal(await text(badge), 'Starting');
    // The clock counts on its own, and the progress line moves.
    const first = await waitFor(async () => /^Starting — (\d+) s$/.exec(await text(detail)), { what: '"Starting — N s"' });
    const firstLine = await waitFor(async () => PROGRESS.exec(await text(line)), { what: 'the download line' });
    await waitFor(async () => Number(/(\d+) s$/.exec(await text(detail))?.[1]) > Number(first[1]), { what: 'the starting clock to count' });
    await waitFor(async () => Number(PROGRESS.exec(await text(line))?.[1]) > Number(firstLine[1]), { what: 'the progress to move' });
    // One line, ellipsized; the whole line on hover.
    assert.equal(await line.getAttribute('title'), await text(line));
    assert.equal(await line.evaluate((el) => getComputedStyle(el).textOverflow), 'ellipsis');
    assert.equal(await line.evaluate((el) => getComputedStyle(el).whiteSpace), 'nowrap');
    assert.match(await text(slow.locator('[data-testid=protocol]')), /^not yet$/);
    // Starting can be stopped or restarted, not started again.
    assert.ok(await slow.locator('.actions button[data-action=start]').isDisabled());
    assert.ok(!(await slow.locator('.actions button[data-action=restart]').isDisabled()));
    // The header counts it (mute joins once its 2 s are up).
    const both = await waitFor(async () => {
      const t = await text(page.locator('#aggregate'));
      return t.includes('1 starting') && t.includes('1 not answering') && t;
    }, { what: 'the header counting both' });
    assert.equal(both, '1 starting · 1 not answering');
    await page.screenshot({ path: shotPath('ready-starting-light'), fullPage: true });
    await slow.screenshot({ path: shotPath('card-starting-light') });

    // It answers: Running, and the protocol bridgedock speaks with it.
    await waitFor(async () => (await text(badge)) === 'Running', { timeout: 20_000, what: 'slow running' });
    assert.match(await text(detail), /^up \d+ s$/);
    assert.equal(await line.count(), 0, 'no progress line once it runs');
    const status = await server('slow');
    assert.equal(status.state, 'running');
    assert.equal(await text(slow.locator('[data-testid=protocol]')), status.protocol_revision);
    assert.equal(await text(slow.locator('[data-testid=declared]')), 'roots, sampling, elicitation (form, URL)');
    assert.equal(await text(page.locator('#aggregate')), '1 ready · 1 not answering');
    await slow.screenshot({ path: shotPath('card-ready-light') });
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('a process that never answers is Not answering, with its reason, its last line and a Restart that works', async () => {
    const { page, context, errors } = await openDock(browser, d);
    const mute = card(page, 'mute');
    await waitFor(async () => (await text(mute.locator('[data-testid=badge]'))) === 'Not answering', { what: 'mute not answering' });
    const before = await server('mute');
    assert.equal(before.state, 'not-answering');
    assert.match(await text(mute.locator('[data-testid=detail]')), /^Alive for \d+ s, not answering$/);
    assert.equal(await text(mute.locator('.panel-title')), 'Clients cannot use it until it answers');
    const reason = await text(mute.locator('[data-testid=reason]'));
    assert.match(reason, new RegExp(`^Its process \\(pid ${before.pid}\\) has not answered bridgedock's MCP handshake within 2 s \\(start_timeout\\)`));
    assert.equal(await text(mute.locator('[data-testid=last-line]')), `mute: up pid ${before.pid}, answering nothing`);
    assert.equal(await text(mute.locator('[data-testid=pid]')), String(before.pid), 'alive: its pid is shown');
    // Its badge is in the red family, like a crash.
    const red = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bad').trim());
    const badgeColor = await mute.locator('[data-testid=badge]').evaluate((el) => getComputedStyle(el).color);
    assert.equal(badgeColor, await page.evaluate((c) => {
      const probe = document.createElement('span');
      probe.style.color = c;
      document.body.append(probe);
      const rgb = getComputedStyle(probe).color;
      probe.remove();
      return rgb;
    }, red));
    assert.ok(await mute.locator('.actions button[data-action=start]').isDisabled(), 'Start would do nothing');
    await mute.screenshot({ path: shotPath('card-not-answering-light') });

    // "Show its log" shows mute's lines.
    await mute.locator('button[data-action=show-log]').click();
    assert.equal(await page.locator('#log-server').inputValue(), 'mute');
    await waitFor(async () => (await page.locator('.log-row', { hasText: `mute: up pid ${before.pid}` }).count()) === 1, { what: "mute's line in the log" });

    // Restart from the panel: a new process, starting again, then not answering again.
    const restart = mute.locator('.panel button[data-action=restart]');
    assert.equal(await text(restart), 'Restart');
    await restart.click();
    const again = await waitFor(async () => {
      const s = await server('mute');
      return s.pid !== before.pid && s.restarts === before.restarts + 1 && s;
    }, { what: 'a new mute process' });
    await waitFor(async () => (await text(mute.locator('[data-testid=pid]'))) === String(again.pid), { what: 'the new pid on the card' });
    await waitFor(async () => (await text(mute.locator('[data-testid=badge]'))) === 'Not answering' && (await text(mute.locator('[data-testid=last-line]'))).includes(String(again.pid)), {
      what: 'the new process not answering either',
    });
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('both states in light and dark', async () => {
    // A restart gives slow another 6 s of starting while mute stays not answering.
    await d.post('/api/servers/slow/restart');
    for (const scheme of ['light', 'dark']) {
      const { page, context } = await openDock(browser, d, { scheme });
      await waitFor(async () => PROGRESS.test(await text(card(page, 'slow').locator('[data-testid=last-line]'))), { what: `slow's progress (${scheme})` });
      assert.equal(await text(card(page, 'mute').locator('[data-testid=badge]')), 'Not answering');
      await page.locator('.cards').screenshot({ path: shotPath(`ready-cards-${scheme}`) });
      await page.screenshot({ path: shotPath(`ready-page-${scheme}`), fullPage: true });
      await context.close();
    }
  });
});
