import { describe, expect, it } from 'vitest';
import { parseAnsi, stripAnsi, styleClass } from './ansi';

describe('ANSI', () => {
  it('passes plain text through', () => {
    expect(parseAnsi('hello')).toEqual([{ text: 'hello', style: { fg: null, bg: null, bold: false } }]);
    expect(parseAnsi('')).toEqual([]);
  });
  it('parses the basic 16 colours and bold', () => {
    const segs = parseAnsi('\x1b[31merror\x1b[0m: \x1b[1;92mok\x1b[22m!\x1b[44mbg\x1b[49m');
    expect(segs.map((s) => [s.text, styleClass(s.style)])).toEqual([
      ['error', 'ansi-fg-1'],
      [': ', ''],
      ['ok', 'ansi-fg-10 ansi-bold'],
      ['!', 'ansi-fg-10'],
      ['bg', 'ansi-fg-10 ansi-bg-4'],
    ]);
  });
  it('treats ESC[m as reset and 39 as default foreground', () => {
    const segs = parseAnsi('\x1b[33mA\x1b[mB\x1b[35mC\x1b[39mD');
    expect(segs.map((s) => [s.text, s.style.fg])).toEqual([['A', 3], ['B', null], ['C', 5], ['D', null]]);
  });
  it('maps 256-colour indexes below 16, skips true colour', () => {
    const segs = parseAnsi('\x1b[38;5;9mX\x1b[38;2;1;2;3mY\x1b[38;5;200mZ');
    expect(segs.map((s) => [s.text, s.style.fg])).toEqual([['X', 9], ['Y', 9], ['Z', 9]]);
  });
  it('drops cursor moves, OSC titles and stray escapes', () => {
    expect(stripAnsi('\x1b[2K\x1b[1Gdone\x1b]0;title\x07 \x1b[32m✓\x1b[0m')).toBe('done ✓');
    expect(parseAnsi('a\x1b[2Jb').map((s) => s.text).join('')).toBe('ab');
    expect(stripAnsi('tail\x1b')).toBe('tail');
  });
});
