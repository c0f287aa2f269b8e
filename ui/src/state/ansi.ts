// ANSI escape sequences in log text: SGR colours (the basic 16, foreground and background)
// and bold are kept as styles; every other escape sequence is dropped.

export interface Style {
  fg: number | null; // 0–15
  bg: number | null; // 0–15
  bold: boolean;
}

export interface Segment {
  text: string;
  style: Style;
}

const PLAIN: Style = Object.freeze({ fg: null, bg: null, bold: false }) as Style;

// CSI … final byte, OSC … BEL/ST, and two-byte escapes.
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

/** True when `text` contains an escape character at all (fast path for plain lines). */
export function hasAnsi(text: string): boolean {
  return text.indexOf('\x1b') !== -1;
}

/** The text without any escape sequences. */
export function stripAnsi(text: string): string {
  if (!hasAnsi(text)) return text;
  // eslint-disable-next-line no-control-regex
  return text.replace(ESCAPE, '').replace(/\x1b/g, '');
}

function applySgr(style: Style, params: string): Style {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  let s = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) s = { ...PLAIN };
    else if (c === 1) s.bold = true;
    else if (c === 22) s.bold = false;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c === 39) s.fg = null;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 49) s.bg = null;
    else if (c === 38 || c === 48) {
      // 256-colour / true-colour: map the 16 basic indexes, skip the rest.
      const mode = codes[i + 1];
      if (mode === 5) {
        const n = codes[i + 2];
        if (n !== undefined && n < 16) {
          if (c === 38) s.fg = n;
          else s.bg = n;
        }
        i += 2;
      } else if (mode === 2) {
        i += 4;
      }
    }
  }
  return s;
}

/** Splits `text` into styled segments (empty segments are dropped). */
export function parseAnsi(text: string): Segment[] {
  if (!hasAnsi(text)) return text ? [{ text, style: PLAIN }] : [];
  const out: Segment[] = [];
  let style: Style = PLAIN;
  let last = 0;
  ESCAPE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = ESCAPE.exec(text))) {
    if (m.index > last) out.push({ text: text.slice(last, m.index).replace(/\x1b/g, ''), style });
    if (m[2] === 'm') style = applySgr(style, m[1] ?? '');
    last = ESCAPE.lastIndex;
  }
  if (last < text.length) out.push({ text: text.slice(last).replace(/\x1b/g, ''), style });
  return out.filter((s) => s.text.length > 0);
}

/** CSS class names for a style: "ansi-fg-1 ansi-bold". */
export function styleClass(style: Style): string {
  const c: string[] = [];
  if (style.fg !== null) c.push(`ansi-fg-${style.fg}`);
  if (style.bg !== null) c.push(`ansi-bg-${style.bg}`);
  if (style.bold) c.push('ansi-bold');
  return c.join(' ');
}
