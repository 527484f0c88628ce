"""promcheck: fetch and check a Prometheus text exposition (format 0.0.4).

Stdlib only.  Used by tests/integration/metrics.sh.

    python3 promcheck.py check URL          check the format; print a summary
    python3 promcheck.py value URL NAME [LABELS]
                                            print one sample's value, e.g.
                                            canfs_requests_total 'type="put"'
    python3 promcheck.py status URL         print the HTTP status code

The checks (any failure: a message on stderr, exit 1):
  - the reply is 200 with Content-Type text/plain; version=0.0.4;
  - every line is a "# HELP name text", a "# TYPE name kind" or a sample
    "name[{labels}] value"; names and label names follow the Prometheus
    rules; values parse as floats;
  - every family has exactly one HELP and one TYPE, before its samples,
    and its samples are contiguous;
  - a sample's name is its family's (counters end in _total), or for a
    histogram the family's with _bucket, _sum or _count;
  - per histogram series: the le bounds increase, the bucket counts are
    cumulative (never decrease), the last bucket is le="+Inf" and equals
    _count, and _sum is present.
"""

import re
import sys
import urllib.error
import urllib.request

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


class Bad(Exception):
    pass


def fetch(url, timeout=5):
    """(status, content type, text) of a GET of url."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), \
                r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), \
            e.read().decode("utf-8", "replace")


def parse_labels(text, lineno):
    """{name: value} of a {a="b",c="d"} part ("" or None: none)."""
    if not text:
        return {}
    inner = text[1:-1]
    labels, pos = {}, 0
    while pos < len(inner):
        m = LABEL.match(inner, pos)
        if not m:
            raise Bad("line %d: bad labels %r" % (lineno, text))
        if m.group(1) in labels:
            raise Bad("line %d: label %s twice" % (lineno, m.group(1)))
        labels[m.group(1)] = m.group(2)
        pos = m.end()
        if pos < len(inner):
            if inner[pos] != ",":
                raise Bad("line %d: bad labels %r" % (lineno, text))
            pos += 1
    return labels


def parse_value(text, lineno):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(text)
    except ValueError:
        raise Bad("line %d: bad value %r" % (lineno, text)) from None


def family_of(name, families):
    """The family a sample name belongs to (its kind must allow it)."""
    if name in families and families[name]["type"] != "histogram":
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and base in families and \
                families[base]["type"] == "histogram":
            return base
    return None


def parse(text):
    """Check text; return {family: {"type", "help", "samples": [(name,
    labels, value)]}} in order."""
    families, order, current = {}, [], None
    if text and not text.endswith("\n"):
        raise Bad("the text does not end with a newline")
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 3 or not NAME.match(parts[2]):
                raise Bad("line %d: bad comment %r" % (lineno, line))
            kind, name = parts[1], parts[2]
            f = families.get(name)
            if f is None:
                if name in order:
                    raise Bad("line %d: %s again" % (lineno, name))
                f = families[name] = {"type": None, "help": None,
                                      "samples": []}
                order.append(name)
            elif f["samples"] or current != name:
                raise Bad("line %d: %s %s after its samples" % (
                    lineno, kind, name))
            key = "help" if kind == "HELP" else "type"
            if f[key] is not None:
                raise Bad("line %d: second %s for %s" % (lineno, kind, name))
            if kind == "TYPE":
                if len(parts) != 4 or parts[3] not in (
                        "counter", "gauge", "histogram", "summary",
                        "untyped"):
                    raise Bad("line %d: bad TYPE %r" % (lineno, line))
                f["type"] = parts[3]
            else:
                f["help"] = parts[3] if len(parts) == 4 else ""
            current = name
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        if not m:
            raise Bad("line %d: not a sample: %r" % (lineno, line))
        name, labels = m.group(1), parse_labels(m.group(2), lineno)
        value = parse_value(m.group(3), lineno)
        fam = family_of(name, families)
        if fam is None:
            raise Bad("line %d: sample %s has no HELP/TYPE before it"
                      % (lineno, name))
        if fam != current:
            raise Bad("line %d: sample of %s outside its family's lines"
                      % (lineno, fam))
        f = families[fam]
        if f["help"] is None or f["type"] is None:
            raise Bad("line %d: %s lacks HELP or TYPE" % (lineno, fam))
        if f["type"] == "counter" and not fam.endswith("_total"):
            raise Bad("line %d: counter %s does not end in _total"
                      % (lineno, fam))
        f["samples"].append((name, labels, value))
    for name in order:
        if not families[name]["samples"]:
            raise Bad("%s has HELP/TYPE but no samples" % name)
        if families[name]["type"] == "histogram":
            check_histogram(name, families[name]["samples"])
    return {name: families[name] for name in order}


def check_histogram(fam, samples):
    """Buckets cumulative, ending in +Inf equal to _count, per series."""
    series = {}
    for name, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None,
                                    "count": None})
        if name == fam + "_bucket":
            if "le" not in labels:
                raise Bad("%s%s: a bucket without le" % (fam, dict(key)))
            s["buckets"].append((parse_value(labels["le"], 0), value))
        elif name == fam + "_sum":
            s["sum"] = value
        else:
            s["count"] = value
    for key, s in series.items():
        where = "%s%s" % (fam, dict(key))
        b = s["buckets"]
        if not b or b[-1][0] != float("inf"):
            raise Bad("%s: the last bucket is not le=\"+Inf\"" % where)
        if s["count"] is None or s["sum"] is None:
            raise Bad("%s: _count or _sum missing" % where)
        for (le0, c0), (le1, c1) in zip(b, b[1:]):
            if not le1 > le0:
                raise Bad("%s: le %g after %g" % (where, le1, le0))
            if c1 < c0:
                raise Bad("%s: bucket le=%g has %g < %g" % (where, le1, c1,
                                                            c0))
        if b[-1][1] != s["count"]:
            raise Bad("%s: +Inf bucket %g != _count %g" % (where, b[-1][1],
                                                           s["count"]))


def value(families, name, labels=""):
    """The value of sample name{labels} (labels as 'a="b",c="d"')."""
    want = parse_labels("{%s}" % labels if labels else "", 0)
    for fam in families.values():
        for n, lab, v in fam["samples"]:
            if n == name and lab == want:
                return v
    raise Bad("no sample %s{%s}" % (name, labels))


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd, url = argv[1], argv[2]
    try:
        status, ctype, text = fetch(url)
    except (OSError, urllib.error.URLError) as e:
        print("promcheck: %s: %s" % (url, e), file=sys.stderr)
        return 1
    if cmd == "status":
        print(status)
        return 0
    try:
        if status != 200:
            raise Bad("HTTP status %d" % status)
        if not ctype.startswith("text/plain") or \
                "version=0.0.4" not in ctype:
            raise Bad("Content-Type %r" % ctype)
        families = parse(text)
        if cmd == "check":
            print("%d families, %d samples, %d histograms" % (
                len(families),
                sum(len(f["samples"]) for f in families.values()),
                sum(f["type"] == "histogram" for f in families.values())))
        elif cmd == "value":
            v = value(families, argv[3], argv[4] if len(argv) > 4 else "")
            print("%.17g" % v)
        else:
            sys.exit(__doc__)
    except Bad as e:
        print("promcheck: %s: %s" % (url, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
