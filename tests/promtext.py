"""Prometheus' text format 0.0.4, parsed strictly, for the tests of the
/metrics of dm-orchestrator (tests/orchestrator/test-metrics.py) and of
the launcher (tests/launcher/metrics-test.py): HELP and TYPE lines, every
sample NAME{LABELS} VALUE of a family typed before it and kept together,
each histogram's buckets cumulative by rising le and ending in +Inf equal
to its _count, with a _sum."""
import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?\})? (\S+)$" %
                    (NAME, LABEL, LABEL))
HELP = re.compile(r"^# HELP (%s) .*$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$"
                  % NAME)
LABELS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class ParseError(Exception):
    pass


def family_of(name, types):
    """The family a sample NAME belongs to (a histogram's _bucket...)."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return name


def parse(text):
    """{family: {"type", "samples": [(name, {labels}, value)]}}, or
    ParseError naming the first line that breaks the format."""
    if not text.endswith("\n"):
        raise ParseError("the text does not end with a newline")
    types, fams, done, current = {}, {}, set(), None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        m = HELP.match(line) or TYPE.match(line)
        if line.startswith("#"):
            if not m:
                raise ParseError("line %d: a comment that is neither HELP "
                                 "nor TYPE: %r" % (n, line))
            if line.startswith("# TYPE"):
                if m.group(1) in types:
                    raise ParseError("line %d: %s typed twice" %
                                     (n, m.group(1)))
                types[m.group(1)] = m.group(2)
                fams[m.group(1)] = {"type": m.group(2), "samples": []}
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ParseError("line %d: not NAME{LABELS} VALUE: %r" %
                             (n, line))
        try:
            value = float(m.group(3))
        except ValueError:
            raise ParseError("line %d: value %r" % (n, m.group(3)))
        fam = family_of(m.group(1), types)
        if fam not in types:
            raise ParseError("line %d: %s has no TYPE before it" % (n, fam))
        if fam != current:
            if fam in done:
                raise ParseError("line %d: %s's samples are not together" %
                                 (n, fam))
            if current:
                done.add(current)
            current = fam
        labels = dict(LABELS.findall(m.group(2) or ""))
        fams[fam]["samples"].append((m.group(1), labels, value))
    for name, fam in fams.items():
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return fams


def check_histogram(name, samples):
    """Per label set: buckets by rising le, cumulative, the last +Inf and
    equal to _count; a _sum."""
    series = {}
    for sname, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None,
                                    "count": None})
        if sname == name + "_bucket":
            s["buckets"].append((labels["le"], value))
        elif sname == name + "_sum":
            s["sum"] = value
        elif sname == name + "_count":
            s["count"] = value
        else:
            raise ParseError("%s: sample %s" % (name, sname))
    for key, s in series.items():
        b = s["buckets"]
        if not b or b[-1][0] != "+Inf":
            raise ParseError("%s%s: no +Inf bucket last" % (name, key))
        les = [float(le) for le, _ in b]
        if les != sorted(les) or len(set(les)) != len(les):
            raise ParseError("%s%s: le not rising: %r" % (name, key, les))
        counts = [v for _, v in b]
        if counts != sorted(counts):
            raise ParseError("%s%s: buckets not cumulative: %r" %
                             (name, key, counts))
        if s["count"] != counts[-1] or s["sum"] is None:
            raise ParseError("%s%s: _count %r, +Inf %r, _sum %r" %
                             (name, key, s["count"], counts[-1], s["sum"]))


def value(fams, family, sample=None, **labels):
    for name, lab, v in fams.get(family, {"samples": []})["samples"]:
        if name == (sample or family) and lab == labels:
            return v
    return None
