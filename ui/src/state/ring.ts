// A fixed-capacity ring of items addressed by absolute position: position p (0, 1, 2, … over
// the ring's whole life) stays valid until it is evicted. Pushing beyond capacity evicts the
// oldest. O(1) push and get, no array shifting.

export class Ring<T> {
  private buf: (T | undefined)[];
  private _start = 0; // absolute position of the oldest item
  private _end = 0; // absolute position one past the newest

  constructor(readonly capacity: number) {
    if (!(capacity > 0)) throw new Error('ring capacity must be positive');
    this.buf = new Array(capacity);
  }

  get start(): number {
    return this._start;
  }
  get end(): number {
    return this._end;
  }
  get length(): number {
    return this._end - this._start;
  }

  /** Adds an item; returns its absolute position. */
  push(item: T): number {
    const pos = this._end;
    this.buf[pos % this.capacity] = item;
    this._end++;
    if (this._end - this._start > this.capacity) this._start = this._end - this.capacity;
    return pos;
  }

  /** The item at absolute position `pos`, or undefined when evicted or not yet written. */
  get(pos: number): T | undefined {
    if (pos < this._start || pos >= this._end) return undefined;
    return this.buf[pos % this.capacity];
  }

  /** Drops everything; positions keep increasing from where they were. */
  clear(): void {
    this.buf = new Array(this.capacity);
    this._start = this._end;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let p = this._start; p < this._end; p++) yield this.buf[p % this.capacity] as T;
  }
}

/** A growing list of increasing numbers (ring positions) that can drop from the front cheaply. */
export class PositionList {
  private items: number[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  at(i: number): number {
    return this.items[this.head + i];
  }
  push(pos: number): void {
    this.items.push(pos);
  }
  /** Drops leading positions below `minPos`; returns how many were dropped. */
  dropBelow(minPos: number): number {
    const before = this.head;
    while (this.head < this.items.length && this.items[this.head] < minPos) this.head++;
    const dropped = this.head - before;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return dropped;
  }
  reset(positions: number[] = []): void {
    this.items = positions;
    this.head = 0;
  }
}
