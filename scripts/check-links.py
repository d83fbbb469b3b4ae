#!/usr/bin/env python3
"""Check the links between README.md and docs/: no dead relative link, no anchor that
does not exist. Anchors follow GitHub's rules for headings (github-slugger: the heading's
text, lower-cased, punctuation and symbols dropped, each space a hyphen, repeats numbered
-1, -2, ...), plus explicit <a name=...> and id=... anchors. Web links (http:, https:,
mailto:) are not fetched. Links inside code (fenced blocks, `spans`) are not links.

Usage: scripts/check-links.py [FILE.md ...]   (default: README.md and docs/**/*.md)
Exit status 1 with one line per broken link (FILE:LINE: target: why), 0 otherwise.
It first checks itself on built-in cases, so a checker that finds nothing cannot pass.
"""

import re
import sys
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# [text](target) and ![alt](target); target may be <...>, may carry a "title".
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
# [id]: target  (reference definitions)
REFDEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
# href="..." / src="..." in inline HTML
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
# <a name="x"> or id="x": explicit anchors
HTML_ANCHOR = re.compile(r"""<[^>]*\b(?:name|id)\s*=\s*["']([^"']+)["']""")
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINE_ANCHOR = re.compile(r"^L\d+(-L\d+)?$")


def slug_base(heading: str) -> str:
    """GitHub's anchor for a heading's text, before repeats are numbered."""
    text = heading_text(heading).strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return kept.replace(" ", "-")


def heading_text(heading: str) -> str:
    """The heading as GitHub renders it to text: no markup, link and code text kept."""
    t = CODE_SPAN.sub(lambda m: m.group(2).strip(), heading)
    t = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", t)  # images have no text
    t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", t)  # links keep their text
    t = re.sub(r"<[^>]+>", "", t)  # inline HTML tags
    t = re.sub(r"\*+", "", t)  # emphasis
    return t


def outside_code(lines):
    """(line number, line with code spans blanked) for each line outside fenced code."""
    fence = None
    for n, line in enumerate(lines, 1):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)[0] * len(m.group(1))
            continue
        if fence is not None:
            if line.strip().startswith(fence) and set(line.strip()) <= set(fence[0]):
                fence = None
            continue
        yield n, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line), line


def anchors(text: str) -> set:
    """Every anchor a Markdown document offers on GitHub."""
    found, seen = set(), {}
    prev = None
    for _, bare, raw in outside_code(text.splitlines()):
        heading = None
        m = ATX.match(raw)
        if m:
            heading = m.group(2) or ""
        elif prev is not None and prev.strip() and re.match(r"^ {0,3}(=+|-+)\s*$", raw):
            # A setext heading: the line above, underlined.
            if not re.match(r"^\s*([-*+|>]|\d+[.)])", prev):
                heading = prev.strip()
        if heading is not None:
            base = slug_base(heading)
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        found.update(HTML_ANCHOR.findall(bare))
        prev = raw
    return found


def links(text: str):
    """(line number, target) for every link outside code; a link's text may span lines."""
    lines = text.splitlines()
    bare = [""] * len(lines)
    for n, b, _ in outside_code(lines):
        bare[n - 1] = b
    whole = "\n".join(bare)
    for m in INLINE.finditer(whole):
        yield whole.count("\n", 0, m.start()) + 1, m.group(1).strip("<>")
    for n, b in enumerate(bare, 1):
        m = REFDEF.match(b)
        if m:
            yield n, m.group(1).strip("<>")
        for m in HTML_LINK.finditer(b):
            yield n, m.group(1)


def check(path: Path, root: Path):
    """The broken links of one Markdown file, as (line, target, why)."""
    bad = []
    cache = {}

    def anchors_of(p: Path):
        if p not in cache:
            cache[p] = anchors(p.read_text(encoding="utf-8"))
        return cache[p]

    for line, target in links(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
            continue  # http:, https:, mailto: ...: not checked here
        where, _, frag = target.partition("#")
        dest = (path.parent / where).resolve() if where else path
        if where:
            try:
                dest.relative_to(root)
            except ValueError:
                bad.append((line, target, "points outside the repository"))
                continue
            if not dest.exists():
                bad.append((line, target, "no such file"))
                continue
        if not frag:
            continue
        if dest.is_dir():
            bad.append((line, target, "an anchor into a directory"))
        elif dest.suffix.lower() == ".md":
            if frag not in anchors_of(dest):
                bad.append((line, target, f"no heading or anchor '#{frag}' in {dest.name}"))
        elif not LINE_ANCHOR.match(frag):
            bad.append((line, target, f"'#{frag}' is not a line anchor (#L12, #L12-L20)"))
    return bad


def self_test():
    """The rules above on cases whose answer is known; raises if one is wrong."""
    cases = {
        "UDP: the same room, the same clients, `--proto udp` and `nc -u`":
            "udp-the-same-room-the-same-clients---proto-udp-and-nc--u",
        "TCP and UDP on an impaired path: the link lab": "tcp-and-udp-on-an-impaired-path-the-link-lab",
        "What `nettool bench` prints": "what-nettool-bench-prints",
        "11. Round 4 (2026-12-02 00:45–, main): the load generator":
            "11-round-4-2026-12-02-0045-main-the-load-generator",
        "Fan-out 50 × 260, p99 ≤ 0.2× Node's": "fan-out-50--260-p99--02-nodes",
        "Latency in µs, *per* [core](x.md)": "latency-in-µs-per-core",
        "snake_case_name": "snake_case_name",
    }
    for heading, want in cases.items():
        got = slug_base(heading)
        assert got == want, f"slug of {heading!r}: {got!r}, want {want!r}"
    doc = "# A\n## Setup\n```\n## Not a heading\n```\n## Setup\nText\n=====\n<a name=\"x-y\"></a>\n"
    assert anchors(doc) == {"a", "setup", "setup-1", "text", "x-y"}, anchors(doc)
    files = {
        "a.md": "# Top\n[ok](b.md#there) [ok](#top) [ok](b.md) [web](https://x/#nope)\n"
        "`[code](gone.md)`\n```\n[fenced](gone.md)\n```\n"
        "[dead](gone.md) [bad anchor](b.md#nowhere) [self](#nope) [two\nlines](gone2.md)\n",
        "b.md": "## There\n",
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        bad = check(root / "a.md", root)
    got = [(line, target) for line, target, _ in bad]
    want = [(7, "gone.md"), (7, "b.md#nowhere"), (7, "#nope"), (7, "gone2.md")]
    assert got == want, f"broken links found in the self-test: {got}, want {want}"


def main(argv):
    self_test()
    files = [Path(a).resolve() for a in argv] or [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = 0
    for f in files:
        for line, target, why in check(f, ROOT):
            print(f"{f.relative_to(ROOT)}:{line}: {target}: {why}")
            broken += 1
    if broken:
        print(f"check-links: {broken} broken link(s)", file=sys.stderr)
        return 1
    print(f"check-links: {len(files)} files, every relative link and anchor resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
