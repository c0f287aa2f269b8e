// The dock's log buffer: a ring of the newest entries (100 000 by default) and, kept in step
// with it, the positions of the entries the current filter lets through. The view asks for
// "filtered row i" and never scans the ring while scrolling.

import { PositionList, Ring } from './ring';
import { type LogEntry, type LogFilter, NO_FILTER, compileFilter } from './logfilter';

export const DEFAULT_LOG_CAPACITY = 100_000;

export interface AppendResult {
  /** Filtered rows added at the end. */
  added: number;
  /** Filtered rows evicted at the front (the view shifts its scroll position by this). */
  dropped: number;
}

export class LogStore {
  readonly ring: Ring<LogEntry>;
  private rows = new PositionList();
  private _filter: LogFilter = NO_FILTER;
  private match = compileFilter(NO_FILTER);

  constructor(capacity = DEFAULT_LOG_CAPACITY) {
    this.ring = new Ring<LogEntry>(capacity);
  }

  get filter(): LogFilter {
    return this._filter;
  }
  /** Rows that pass the filter. */
  get count(): number {
    return this.rows.length;
  }
  /** Entries buffered, filtered or not. */
  get total(): number {
    return this.ring.length;
  }

  append(entries: readonly LogEntry[]): AppendResult {
    let added = 0;
    for (const e of entries) {
      const pos = this.ring.push(e);
      if (this.match(e)) {
        this.rows.push(pos);
        added++;
      }
    }
    const dropped = this.rows.dropBelow(this.ring.start);
    return { added, dropped };
  }

  setFilter(filter: LogFilter): void {
    this._filter = filter;
    this.match = compileFilter(filter);
    const positions: number[] = [];
    for (let p = this.ring.start; p < this.ring.end; p++) {
      const e = this.ring.get(p);
      if (e && this.match(e)) positions.push(p);
    }
    this.rows.reset(positions);
  }

  /** The i-th filtered entry (0 = oldest shown). */
  row(i: number): LogEntry | undefined {
    if (i < 0 || i >= this.rows.length) return undefined;
    return this.ring.get(this.rows.at(i));
  }

  /** Stable identity of the i-th filtered row (its ring position), for DOM reuse. */
  rowKey(i: number): number {
    return this.rows.at(i);
  }

  *filtered(): IterableIterator<LogEntry> {
    for (let i = 0; i < this.rows.length; i++) {
      const e = this.ring.get(this.rows.at(i));
      if (e) yield e;
    }
  }

  clear(): void {
    this.ring.clear();
    this.rows.reset();
  }
}
