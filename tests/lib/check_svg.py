#!/usr/bin/env python3
"""check_svg.py SVG ZONES_JSON AXES SLICE TITLE: check a `canctl map --svg`.

ZONES_JSON is `canctl zones --json` taken at the same time; AXES "I,J"
(1-based) and SLICE "xI=F,..." as given to canctl ("" for the defaults:
1,2 and the centre); TITLE a string the picture's title must contain.
Checks that the file is well-formed XML, that the zone rectangles lie in
the square, do not overlap and cover it exactly (areas sum to the
square's), that there is exactly one rectangle per zone meeting the slice
(computed here from the zone map, independently of canctl), each with one
label naming its node (the first 6 hex digits of its id), and that the
title says what is drawn.  Exit 0 when all hold, else 1 with the reason.
"""
import json
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
SPACE = 1 << 32


def fail(msg):
    print("check_svg: " + msg)
    sys.exit(1)


def main():
    path, zpath, axes, slc, title = sys.argv[1:6]
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        fail("not well-formed XML: %s" % e)
    nodes = json.load(open(zpath))
    dims = len(nodes[0]["zones"][0]["lo"])
    ax, ay = (0, 1) if not axes else [int(a) - 1 for a in axes.split(",")]
    at = [SPACE // 2] * dims
    for item in filter(None, slc.split(",")):
        k, v = item.split("=")
        at[int(k[1:]) - 1] = int(float(v) * SPACE)
    want = {}
    for n in nodes:
        for z in n["zones"]:
            if all(z["lo"][i] <= at[i] < z["hi"][i]
                   for i in range(dims) if i not in (ax, ay)):
                want[n["id"][:6]] = want.get(n["id"][:6], 0) + 1

    ttl = [t for t in root.iter(SVG + "text") if t.get("class") == "title"]
    if len(ttl) != 1 or title not in "".join(ttl[0].itertext()):
        fail("title %r does not say %r" %
             ("".join(ttl[0].itertext()) if ttl else None, title))
    space = [r for r in root.iter(SVG + "rect") if r.get("class") == "space"]
    if len(space) != 1:
        fail("%d space rectangles, not 1" % len(space))
    sx, sy = float(space[0].get("x")), float(space[0].get("y"))
    sw, sh = float(space[0].get("width")), float(space[0].get("height"))
    rects, got = [], {}
    for g in root.iter(SVG + "g"):
        zs = [r for r in g.iter(SVG + "rect") if r.get("class") == "zone"]
        labels = [t for t in g.iter(SVG + "text") if t.get("class") == "label"]
        tips = list(g.iter(SVG + "title"))
        if len(zs) != 1 or len(labels) != 1 or len(tips) != 1:
            fail("a zone group with %d rectangles, %d labels, %d tooltips"
                 % (len(zs), len(labels), len(tips)))
        r = zs[0]
        x, y = float(r.get("x")), float(r.get("y"))
        w, h = float(r.get("width")), float(r.get("height"))
        eps = 0.01
        if x < sx - eps or y < sy - eps or x + w > sx + sw + eps or \
                y + h > sy + sh + eps or w <= 0 or h <= 0:
            fail("rectangle %s outside the square" % ((x, y, w, h),))
        rects.append((x, y, w, h))
        lab = labels[0].text or ""
        got[lab] = got.get(lab, 0) + 1
        if "zone [" not in tips[0].text:
            fail("tooltip without the zone's bounds: %r" % tips[0].text)
    if got != want:
        fail("zones per node label %s, expected %s" % (got, want))
    area = sum(w * h for _, _, w, h in rects)
    if abs(area - sw * sh) > 1.0:
        fail("rectangles cover %.3f of the square's %.3f" % (area, sw * sh))
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            ox = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
            oy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            if ox > 0.01 and oy > 0.01:
                fail("rectangles %s and %s overlap" % (a, b))
    print("svg ok: %d zones of %d nodes tile the square (area %.3f of "
          "%.3f)" % (len(rects), len(got), area, sw * sh))


main()
