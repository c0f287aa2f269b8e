// Helpers for the dock's browser tests: a real bridgedockd, Debian's chromium via playwright-core.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
export const fixtures = path.join(repo, 'tests/fixtures');
export const dockFixtures = path.join(here, 'fixtures');
export const artifacts = path.join(repo, 'tests/artifacts/dock');
export const dockDir = process.env.BRIDGEDOCK_DOCK_DIR || path.join(repo, 'ui/dist');
export const bin =
  process.env.BRIDGEDOCKD || path.join(process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache/bridgedock-target'), 'debug/bridgedockd');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function launchBrowser(extraArgs = []) {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** A TOML config from {name: {command, args, restart, version, start_timeout, autostart, env}}. */
export function toml(servers) {
  let out = '';
  for (const [name, s] of Object.entries(servers)) {
    out += `[servers.${name}]\ncommand = ${JSON.stringify(s.command)}\n`;
    if (s.args) out += `args = [${s.args.map((a) => JSON.stringify(String(a))).join(', ')}]\n`;
    for (const k of ['restart', 'version', 'start_timeout']) if (s[k] !== undefined) out += `${k} = ${JSON.stringify(s[k])}\n`;
    if (s.autostart !== undefined) out += `autostart = ${s.autostart}\n`;
    if (s.env) out += `env = { ${Object.entries(s.env).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ')} }\n`;
    out += '\n';
  }
  return out;
}

export function tempDir(prefix = 'dock-test-') {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts bridgedockd; resolves once it printed its dock URL.
 * Returns {api, url (with #token), token, port, proc, stop(), stderr()}.
 */
export async function startDaemon({ config, dir, port = 0, configDir, stateDir }) {
  dir = dir || tempDir();
  const cfgFile = path.join(dir, 'config.toml');
  writeFileSync(cfgFile, config);
  configDir = configDir || path.join(dir, 'cfg');
  stateDir = stateDir || path.join(dir, 'state');
  mkdirSync(configDir, { recursive: true });
  const args = ['serve', '--port', String(port), '--state-dir', stateDir, '--config-dir', configDir, '--config', cfgFile, '--dock-dir', dockDir];
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bridgedockd did not start in 20 s:\n${out}\n${err}`)), 20_000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /dock at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`bridgedockd exited (${code}):\n${out}\n${err}`));
    });
  });
  const u = new URL(url);
  const token = /token=([^&]+)/.exec(u.hash)[1];
  const api = u.origin;
  return {
    api,
    url,
    token,
    port: Number(u.port),
    dir,
    configDir,
    stateDir,
    proc,
    stderr: () => err,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
    async status() {
      const r = await fetch(`${api}/api/status`, { headers: { Authorization: `Bearer ${token}` } });
      return r.json();
    },
    async post(p) {
      const r = await fetch(`${api}${p}`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
      return r.json();
    },
  };
}

export async function waitFor(fn, { timeout = 15_000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export function shotPath(name) {
  mkdirSync(artifacts, { recursive: true });
  return path.join(artifacts, `${name}.png`);
}

/** A fresh page on the dock of `d`, once it shows live data; page errors are collected. */
export async function openDock(browser, d, { scheme = 'light', width = 1280, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme: scheme });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(d.url);
  await page.waitForSelector('#app[data-ready]', { timeout: 15_000 });
  return { page, context, errors };
}

/** The card of server `name`. */
export const card = (page, name) => page.locator(`article[data-server="${name}"]`);

/** What a locator shows, trimmed. */
export const text = async (loc) => ((await loc.textContent()) ?? '').trim();
