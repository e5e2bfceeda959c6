#!/usr/bin/env python3
"""Check that every relative link in README.md and docs/*.md resolves (run by ``make lint``).

A link ``[text](path)``, ``[text](path#anchor)``, ``[text](#anchor)`` or a reference
definition ``[id]: path`` must name an existing file or folder (relative to the page that
holds it) and, when it carries an ``#anchor`` into a Markdown page, a heading of that page
(GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, ``-1``, ``-2``
for repeats) or an explicit ``<a name="...">`` / ``id="..."``. Links with a scheme
(``https:``, ``mailto:``) and links inside code are not checked.

Prints each broken link as ``file:line: broken link target`` and exits 1 on any.
Standard library only: ``python scripts/check_docs.py [ROOT]`` (ROOT: the repository).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote

INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text], one level of nested brackets
    r"\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'(][^)]*)?\)"  # (target "optional title")
)
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s[^>]*\b(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def slug(heading: str) -> str:
    """GitHub's id for a heading's text (before the ``-1``, ``-2`` of repeats)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def _outside_code(lines: list[str]) -> list[str | None]:
    """Each line with its inline code spans blanked out; None inside a fenced block."""
    out: list[str | None] = []
    fence = ""
    for line in lines:
        match = FENCE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = ""
            out.append(None)
        elif match:
            fence = match.group(1)
            out.append(None)
        else:
            out.append(CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line))
    return out


def anchors(page: Path) -> set[str]:
    """Every ``#anchor`` a link into ``page`` may name."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    raw_lines = page.read_text(encoding="utf-8").splitlines()
    for raw, line in zip(raw_lines, _outside_code(raw_lines), strict=True):
        if line is None:
            continue
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(raw)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    """``(line number, target)`` of every link on ``page`` outside code."""
    result: list[tuple[int, str]] = []
    lines = _outside_code(page.read_text(encoding="utf-8").splitlines())
    for number, line in enumerate(lines, start=1):
        if line is None:
            continue
        targets = [m.group(1) for m in INLINE_LINK.finditer(line)]
        definition = REFERENCE_DEF.match(line)
        if definition:
            targets.append(definition.group(1))
        result.extend((number, t[1:-1] if t.startswith("<") else t) for t in targets)
    return result


def broken(page: Path, target: str, cache: dict[Path, set[str]]) -> bool:
    """Whether a relative ``target`` on ``page`` names no file, or no heading of it."""
    path, _, anchor = target.partition("#")
    dest = (page.parent / unquote(path)).resolve() if path else page.resolve()
    if not dest.exists():
        return True
    if not anchor or dest.is_dir() or dest.suffix.lower() != ".md":
        return False
    if dest not in cache:
        cache[dest] = anchors(dest)
    return unquote(anchor).lower() not in cache[dest]


def pages(root: Path) -> list[Path]:
    """README.md and every Markdown page under docs/."""
    found = [root / "README.md"] if (root / "README.md").is_file() else []
    return found + sorted((root / "docs").rglob("*.md"))


def check(root: Path) -> list[str]:
    """One ``file:line: broken link target`` per broken relative link under ``root``."""
    problems: list[str] = []
    cache: dict[Path, set[str]] = {}
    for page in pages(root):
        for number, target in links(page):
            if SCHEME.match(target) or target.startswith("//"):
                continue
            if broken(page, target, cache):
                problems.append(f"{page.relative_to(root)}:{number}: broken link {target}")
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else Path(__file__).resolve().parent.parent).resolve()
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} broken link(s)", file=sys.stderr)
        return 1
    print(f"docs links: {len(pages(root))} pages, every relative link resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
