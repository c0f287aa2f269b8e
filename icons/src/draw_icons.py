#!/usr/bin/env python3
"""Draws bridgedock's app icon and tray icons (needs Pillow). Run from anywhere:
    python3 icons/src/draw_icons.py
Everything is drawn at 8x on a 64-unit grid and scaled down, so edges stay crisp."""
import os
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)
SS = 8  # supersampling


def bridge(d, s, color, broken=False, width=5.5):
    """A bridge on a 64-unit grid, scaled by s: an arch over a deck on two piers."""
    w = width * s
    # the arch: the top half of an ellipse, drawn as a thick arc. Broken, it is split through
    # its middle like the deck, so that "down" reads by its shape too (not by colour alone: at
    # 16 px, red and green of the same lightness are the same to many eyes).
    spans = [(180, 245), (295, 360)] if broken else [(180, 360)]
    for start, end in spans:
        d.arc([12 * s, 15 * s, 52 * s, 55 * s], start, end, fill=color, width=int(w))
    # hangers from the arch to the deck
    hangers = ((24, 20.5), (40, 20.5)) if broken else ((24, 20.5), (32, 18.5), (40, 20.5))
    for x, top in hangers:
        d.line([x * s, top * s, x * s, 35 * s], fill=color, width=int(2.6 * s))
    # the deck
    if broken:
        d.rectangle([8 * s, 33 * s, 25 * s, 39 * s], fill=color)
        d.rectangle([39 * s, 33 * s, 56 * s, 39 * s], fill=color)
    else:
        d.rectangle([8 * s, 33 * s, 56 * s, 39 * s], fill=color)
    # the piers
    d.rectangle([12 * s, 39 * s, 17.5 * s, 53 * s], fill=color)
    d.rectangle([46.5 * s, 39 * s, 52 * s, 53 * s], fill=color)


def tray(fill, glyph, broken, size):
    s = SS * size / 64
    img = Image.new("RGBA", (int(64 * s), int(64 * s)), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    # a light halo outside a dark outline: readable on dark and on light panels
    d.rounded_rectangle([1 * s, 1 * s, 63 * s, 63 * s], radius=15 * s, fill=(255, 255, 255, 235))
    d.rounded_rectangle([3 * s, 3 * s, 61 * s, 61 * s], radius=13 * s, fill=(15, 23, 42, 255))
    d.rounded_rectangle([6.5 * s, 6.5 * s, 57.5 * s, 57.5 * s], radius=10 * s, fill=fill)
    bridge(d, s, glyph, broken=broken, width=6)
    return img.resize((size, size), Image.LANCZOS)


def app_icon(size):
    s = SS * size / 64
    n = int(64 * s)
    img = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    # vertical gradient, indigo to deep blue, in a rounded square
    grad = Image.new("RGBA", (n, n))
    gd = ImageDraw.Draw(grad)
    top, bottom = (79, 70, 229), (30, 41, 110)
    for y in range(n):
        t = y / (n - 1)
        gd.line([0, y, n, y], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)) + (255,))
    mask = Image.new("L", (n, n), 0)
    ImageDraw.Draw(mask).rounded_rectangle([2 * s, 2 * s, 62 * s, 62 * s], radius=14 * s, fill=255)
    img.paste(grad, (0, 0), mask)
    d = ImageDraw.Draw(img)
    # water under the bridge
    d.rounded_rectangle([6 * s, 50 * s, 58 * s, 53.5 * s], radius=1.7 * s, fill=(125, 211, 252, 255))
    bridge(d, s, (255, 255, 255, 255))
    return img.resize((size, size), Image.LANCZOS)


def main():
    app_icon(32).save(os.path.join(OUT, "32x32.png"))
    app_icon(128).save(os.path.join(OUT, "128x128.png"))
    # a plain 256x256 (not "128x128@2x"): the .deb puts each icon in hicolor/WxH/ by its name
    app_icon(256).save(os.path.join(OUT, "256x256.png"))
    app_icon(512).save(os.path.join(OUT, "icon.png"))
    states = {
        "ok": ((22, 163, 74, 255), (255, 255, 255, 255), False),
        "busy": ((245, 158, 11, 255), (15, 23, 42, 255), False),
        "down": ((220, 38, 38, 255), (255, 255, 255, 255), True),
    }
    for name, (fill, glyph, broken) in states.items():
        for size in (16, 22, 32, 64):
            suffix = "" if size == 32 else f"@{size}"
            tray(fill, glyph, broken, size).save(os.path.join(OUT, f"tray-{name}{suffix}.png"))


if __name__ == "__main__":
    main()
