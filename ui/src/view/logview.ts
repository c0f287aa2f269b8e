// The live log: a virtualized list (only the rows in view exist in the DOM) over the LogStore,
// with follow/pause, filters, ANSI on/off, copy, download and clear.

import type { Stream } from '../types';
import { styleClass } from '../state/ansi';
import { type LogEntry, type LogFilter, type MinLevel, entryToText, renderSegments } from '../state/logfilter';
import { LogStore } from '../state/logstore';
import { clockTime } from '../state/time';
import { copyText, h } from './dom';

export const ROW_H = 20;
const INGEST_MS = 50;
const OVERSCAN = 8;

export class LogView {
  readonly el: HTMLElement;
  readonly store: LogStore;
  private viewport!: HTMLElement;
  private spacer!: HTMLElement;
  private rowsEl!: HTMLElement;
  private emptyEl!: HTMLElement;
  private newBtn!: HTMLButtonElement;
  private followBtn!: HTMLButtonElement;
  private countEl!: HTMLElement;
  private serverSel!: HTMLSelectElement;
  private streamSel!: HTMLSelectElement;
  private levelSel!: HTMLSelectElement;
  private search!: HTMLInputElement;
  private ansiBox!: HTMLInputElement;
  private feedback!: HTMLElement;

  private queue: LogEntry[] = [];
  private frame = 0;
  private following = true;
  private newWhilePaused = 0;
  private ansi = true;
  private rows = new Map<number, HTMLElement>(); // ring position → row element
  private pool: HTMLElement[] = [];
  private renderedQuery = '';
  private lastScrollTop = 0;
  private servers: string[] = [];
  private searchTimer = 0;
  private lastIngest = 0;
  private scrolled = false;

  constructor(store = new LogStore()) {
    this.store = store;
    this.el = this.build();
  }

  private build(): HTMLElement {
    this.serverSel = h('select', { id: 'log-server', 'aria-label': 'Source' }, h('option', { value: '' }, 'All sources')) as HTMLSelectElement;
    this.streamSel = h(
      'select',
      { id: 'log-stream', 'aria-label': 'Stream' },
      h('option', { value: '' }, 'All streams'),
      h('option', { value: 'stderr' }, 'stderr'),
      h('option', { value: 'stdout' }, 'stdout'),
      h('option', { value: 'bridge' }, 'bridge'),
    ) as HTMLSelectElement;
    this.levelSel = h(
      'select',
      { id: 'log-level', 'aria-label': 'Minimum level' },
      h('option', { value: 'any' }, 'Any level'),
      h('option', { value: 'error' }, 'Errors'),
      h('option', { value: 'warn' }, 'Warnings +'),
      h('option', { value: 'info' }, 'Info +'),
      h('option', { value: 'debug' }, 'Debug +'),
    ) as HTMLSelectElement;
    this.search = h('input', { id: 'log-search', type: 'search', placeholder: 'Filter text…', 'aria-label': 'Filter log text', autocomplete: 'off', spellcheck: 'false' }) as HTMLInputElement;
    this.ansiBox = h('input', { id: 'log-ansi', type: 'checkbox', checked: true }) as HTMLInputElement;
    this.followBtn = h('button', { type: 'button', class: 'btn btn-small', id: 'log-follow', 'aria-pressed': 'true' }, 'Following') as HTMLButtonElement;
    this.countEl = h('span', { class: 'muted small', id: 'log-count', 'aria-live': 'off' });
    this.feedback = h('span', { class: 'small feedback', role: 'status', 'aria-live': 'polite' });
    this.spacer = h('div', { class: 'log-spacer' });
    this.rowsEl = h('div', { class: 'log-rows' });
    this.emptyEl = h('div', { class: 'log-empty' }, 'No log lines yet.');
    this.viewport = h(
      'div',
      { class: 'log-viewport', id: 'log-viewport', tabindex: '0', role: 'log', 'aria-label': 'Log lines (scroll up to pause, End to follow)', 'aria-live': 'off' },
      this.spacer,
      this.rowsEl,
    );
    this.newBtn = h('button', { type: 'button', class: 'btn btn-primary new-lines is-hidden', id: 'log-new' }, '') as HTMLButtonElement;

    const toolbar = h(
      'div',
      { class: 'log-toolbar', role: 'toolbar', 'aria-label': 'Log filters and actions' },
      h('div', { class: 'filters' }, this.serverSel, this.streamSel, this.levelSel, this.search),
      h(
        'div',
        { class: 'tools' },
        h('label', { class: 'check' }, this.ansiBox, ' Colours'),
        this.followBtn,
        h('button', { type: 'button', class: 'btn btn-small', id: 'log-copy', title: 'Copies the selected text, or else the lines in view' }, 'Copy'),
        h('button', { type: 'button', class: 'btn btn-small', id: 'log-download', title: 'Download the filtered lines as a .log file' }, 'Download'),
        h('button', { type: 'button', class: 'btn btn-small btn-quiet', id: 'log-clear', title: 'Clear the view (the engine keeps its logs)' }, 'Clear'),
      ),
    );
    const root = h(
      'section',
      { class: 'section logs', 'aria-labelledby': 'logs-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'logs-h' }, 'Live logs'), this.countEl, this.feedback),
      toolbar,
      h('div', { class: 'log-frame' }, this.viewport, this.emptyEl, this.newBtn),
    );

    const onFilter = () => this.applyFilter();
    this.serverSel.addEventListener('change', onFilter);
    this.streamSel.addEventListener('change', onFilter);
    this.levelSel.addEventListener('change', onFilter);
    this.search.addEventListener('input', () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = window.setTimeout(onFilter, 120);
    });
    this.search.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        clearTimeout(this.searchTimer);
        onFilter();
      }
    });
    this.ansiBox.addEventListener('change', () => {
      this.ansi = this.ansiBox.checked;
      this.invalidateRows();
      this.render();
    });
    this.followBtn.addEventListener('click', () => (this.following ? this.pause() : this.follow()));
    this.newBtn.addEventListener('click', () => {
      this.follow();
      this.viewport.focus();
    });
    this.viewport.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.viewport.addEventListener('keydown', (e) => {
      if (e.key === 'End') {
        e.preventDefault();
        this.follow();
      } else if (e.key === 'Home') {
        e.preventDefault();
        this.pause();
        this.viewport.scrollTop = 0;
      }
    });
    root.querySelector('#log-copy')!.addEventListener('click', () => this.copy());
    root.querySelector('#log-download')!.addEventListener('click', () => this.download());
    root.querySelector('#log-clear')!.addEventListener('click', () => this.clear());
    window.addEventListener('resize', () => this.schedule());
    return root;
  }

  /** Sources for the filter (server names plus "bridge"); keeps the current choice. */
  setSources(names: string[]): void {
    const all = [...names, 'bridge'];
    if (all.join('\0') === this.servers.join('\0')) return;
    this.servers = all;
    const cur = this.serverSel.value;
    this.serverSel.replaceChildren(h('option', { value: '' }, 'All sources'), ...all.map((n) => h('option', { value: n }, n)));
    this.serverSel.value = all.includes(cur) ? cur : '';
  }

  /** Shows one source's lines, newest first in sight (a card's "Show its log"). */
  showSource(name: string): void {
    if (!this.servers.includes(name)) return;
    this.serverSel.value = name;
    this.applyFilter();
    this.follow();
    this.el.scrollIntoView({ block: 'start', behavior: 'smooth' });
    this.viewport.focus({ preventScroll: true });
  }

  push(entries: LogEntry[]): void {
    if (entries.length === 0) return;
    for (const e of entries) this.queue.push(e);
    this.schedule();
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    this.frame = 0;
    const now = performance.now();
    // New lines are taken in at most every INGEST_MS: a 5 000 lines/s tail then costs a
    // handful of re-renders a second instead of one per frame, and nobody reads faster.
    // Scrolling still renders on the very next frame.
    if (this.queue.length && now - this.lastIngest < INGEST_MS) {
      if (this.scrolled) {
        this.scrolled = false;
        this.render();
      }
      this.frame = requestAnimationFrame(() => this.flush());
      return;
    }
    this.scrolled = false;
    if (this.queue.length) {
      this.lastIngest = now;
      const batch = this.queue;
      this.queue = [];
      const r = this.store.append(batch);
      if (!this.following) {
        this.newWhilePaused += r.added;
        // Keep the rows the reader is looking at still while older ones leave the ring.
        if (r.dropped) this.viewport.scrollTop = Math.max(0, this.viewport.scrollTop - r.dropped * ROW_H);
      }
    }
    this.render();
  }

  private onScroll(): void {
    const v = this.viewport;
    const top = v.scrollTop;
    const atBottom = top + v.clientHeight >= v.scrollHeight - ROW_H / 2;
    if (atBottom) {
      if (!this.following) this.follow();
    } else if (top < this.lastScrollTop - 1 && this.following) {
      this.pause();
    }
    this.lastScrollTop = top;
    this.scrolled = true;
    this.schedule();
  }

  follow(): void {
    this.following = true;
    this.newWhilePaused = 0;
    this.schedule();
  }

  pause(): void {
    if (!this.following) return;
    this.following = false;
    this.newWhilePaused = 0;
    this.schedule();
  }

  get isFollowing(): boolean {
    return this.following;
  }

  currentFilter(): LogFilter {
    return {
      server: this.serverSel.value,
      stream: this.streamSel.value as Stream | '',
      level: this.levelSel.value as MinLevel,
      text: this.search.value.trim(),
    };
  }

  private applyFilter(): void {
    this.store.setFilter(this.currentFilter());
    this.invalidateRows();
    this.newWhilePaused = 0;
    if (!this.following) this.viewport.scrollTop = Math.min(this.viewport.scrollTop, this.store.count * ROW_H);
    this.render();
  }

  private invalidateRows(): void {
    for (const el of this.rows.values()) {
      el.remove();
      this.pool.push(el);
    }
    this.rows.clear();
  }

  clear(): void {
    this.queue = [];
    this.store.clear();
    this.invalidateRows();
    this.newWhilePaused = 0;
    this.following = true;
    this.render();
  }

  private render(): void {
    const store = this.store;
    const v = this.viewport;
    const count = store.count;
    const height = count * ROW_H;
    if (this.spacer.style.height !== `${height}px`) this.spacer.style.height = `${height}px`;
    if (this.following) {
      const bottom = Math.max(0, height - v.clientHeight);
      if (Math.abs(v.scrollTop - bottom) > 1) v.scrollTop = bottom;
      this.lastScrollTop = v.scrollTop;
    }
    const top = v.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(count, Math.ceil((top + v.clientHeight) / ROW_H) + OVERSCAN);
    const q = store.filter.text;
    if (q !== this.renderedQuery) {
      this.renderedQuery = q;
      this.invalidateRows();
    }
    const keep = new Set<number>();
    for (let i = first; i < last; i++) keep.add(store.rowKey(i));
    for (const [key, el] of this.rows) {
      if (!keep.has(key)) {
        this.rows.delete(key);
        el.remove();
        this.pool.push(el);
      }
    }
    for (let i = first; i < last; i++) {
      const key = store.rowKey(i);
      let el = this.rows.get(key);
      if (!el) {
        const entry = store.row(i);
        if (!entry) continue;
        el = this.pool.pop() ?? document.createElement('div');
        this.fillRow(el, entry, q);
        this.rows.set(key, el);
        this.rowsEl.appendChild(el);
      }
      const y = `translateY(${i * ROW_H}px)`;
      if (el.style.transform !== y) el.style.transform = y;
    }
    // chrome around the list
    this.emptyEl.classList.toggle('is-hidden', count > 0);
    this.emptyEl.textContent = store.total > 0 ? 'No lines match the filter.' : 'No log lines yet.';
    const paused = !this.following;
    this.followBtn.textContent = paused ? 'Paused — follow' : 'Following';
    this.followBtn.setAttribute('aria-pressed', String(!paused));
    this.newBtn.classList.toggle('is-hidden', !paused || this.newWhilePaused === 0);
    if (paused && this.newWhilePaused > 0) {
      const t = `${this.newWhilePaused.toLocaleString('en-US')} new line${this.newWhilePaused === 1 ? '' : 's'} ↓`;
      if (this.newBtn.textContent !== t) this.newBtn.textContent = t;
    }
    const ct = count === store.total ? `${count.toLocaleString('en-US')} lines` : `${count.toLocaleString('en-US')} of ${store.total.toLocaleString('en-US')} lines`;
    if (this.countEl.textContent !== ct) this.countEl.textContent = ct;
  }

  private fillRow(el: HTMLElement, e: LogEntry, query: string): void {
    el.replaceChildren();
    if (e.kind === 'marker') {
      el.className = `log-row log-marker tone-${e.tone}`;
      el.append(h('span', { class: 'ts' }, clockTime(e.time_ms)), h('span', { class: 'msg' }, `— ${e.text} —`));
      return;
    }
    const l = e.line;
    el.className = `log-row lvl-${l.level ?? 'none'} st-${l.stream}`;
    const msg = document.createElement('span');
    msg.className = 'msg';
    if (!query && (!this.ansi || e.plain === l.text)) {
      msg.textContent = e.plain;
    } else {
      for (const seg of renderSegments(l.text, query, this.ansi)) {
        const cls = styleClass(seg.style);
        if (!cls && !seg.mark) {
          msg.appendChild(document.createTextNode(seg.text));
          continue;
        }
        const span = document.createElement(seg.mark ? 'mark' : 'span');
        if (cls) span.className = cls;
        span.textContent = seg.text;
        msg.appendChild(span);
      }
    }
    el.append(h('span', { class: 'ts' }, clockTime(l.time_ms)), h('span', { class: 'src', title: l.server }, l.server), h('span', { class: 'stream' }, l.stream), msg);
  }

  /** Rows currently in view, as text. */
  private visibleText(): string {
    const v = this.viewport;
    const first = Math.floor(v.scrollTop / ROW_H);
    const last = Math.min(this.store.count, Math.ceil((v.scrollTop + v.clientHeight) / ROW_H));
    const out: string[] = [];
    for (let i = first; i < last; i++) {
      const e = this.store.row(i);
      if (e) out.push(entryToText(e, clockTime));
    }
    return out.join('\n');
  }

  private async copy(): Promise<void> {
    const sel = window.getSelection();
    const inView = sel && !sel.isCollapsed && sel.anchorNode && this.viewport.contains(sel.anchorNode);
    const text = inView ? sel!.toString() : this.visibleText();
    const ok = await copyText(text);
    const n = text ? text.split('\n').length : 0;
    this.say(ok ? `Copied ${inView ? 'the selection' : `${n} visible line${n === 1 ? '' : 's'}`}` : 'Copy failed — select the text and press Ctrl+C');
  }

  private download(): void {
    const lines: string[] = [];
    for (const e of this.store.filtered()) lines.push(entryToText(e, clockTime));
    const blob = new Blob([lines.join('\n') + '\n'], { type: 'text/plain' });
    const a = document.createElement('a');
    const d = new Date();
    const p = (n: number) => String(n).padStart(2, '0');
    a.download = `bridgedock-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.log`;
    a.href = URL.createObjectURL(blob);
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    this.say(`Downloaded ${lines.length.toLocaleString('en-US')} lines`);
  }

  private say(text: string): void {
    this.feedback.textContent = text;
    window.setTimeout(() => {
      if (this.feedback.textContent === text) this.feedback.textContent = '';
    }, 3000);
  }
}
