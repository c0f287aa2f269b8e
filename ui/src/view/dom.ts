// A tiny DOM toolkit: `h()` builds elements, `morph()` updates a live tree to match a freshly
// built one in place (so focus, hover and selection survive a re-render). Behaviour is wired
// by event delegation on data-* attributes, never by per-element handlers, so a morph only
// ever compares attributes and text.

type Child = Node | string | number | null | undefined | false | Child[];
export type Attrs = Record<string, string | number | boolean | null | undefined>;

export function h(tag: string, attrs: Attrs | null = null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

const keyOf = (n: Node): string | null => (n instanceof Element ? n.getAttribute('data-key') : null);

function sameKind(a: Node, b: Node): boolean {
  return a.nodeType === b.nodeType && a.nodeName === b.nodeName && keyOf(a) === keyOf(b);
}

/** Makes `live` look like `next` (same tag assumed), reusing every node it can. */
export function morph(live: Element, next: Element): void {
  // attributes
  for (const { name } of Array.from(live.attributes)) if (!next.hasAttribute(name)) live.removeAttribute(name);
  for (const { name, value } of Array.from(next.attributes)) if (live.getAttribute(name) !== value) live.setAttribute(name, value);
  morphChildren(live, next);
}

export function morphChildren(live: Element, next: Element): void {
  const wanted = Array.from(next.childNodes);
  for (let i = 0; i < wanted.length; i++) {
    const n = wanted[i];
    let o: Node | null = live.childNodes[i] ?? null;
    if (o && !sameKind(o, n)) {
      // A keyed node further on? Move it here rather than rebuilding it.
      const key = keyOf(n);
      let found: Node | null = null;
      if (key !== null) {
        for (let j = i + 1; j < live.childNodes.length; j++) {
          if (sameKind(live.childNodes[j], n)) {
            found = live.childNodes[j];
            break;
          }
        }
      }
      if (found) {
        live.insertBefore(found, o);
        o = found;
      } else {
        live.insertBefore(n, o);
        continue;
      }
    }
    if (!o) {
      live.appendChild(n);
      continue;
    }
    if (o.nodeType === Node.TEXT_NODE) {
      if (o.nodeValue !== n.nodeValue) o.nodeValue = n.nodeValue;
    } else if (o instanceof Element && n instanceof Element) {
      morph(o, n);
    }
  }
  while (live.childNodes.length > wanted.length) live.removeChild(live.lastChild as Node);
}

/** Copies text; falls back to a hidden textarea where the Clipboard API is unavailable. */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall through */
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}
