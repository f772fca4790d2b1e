"""The documentation a newcomer reads: the README stays short and leads, every relative link in it
and in docs/ reaches a file (and, with an #anchor, a heading of that file), and no page reads as a
work log ("this round", commit hashes): history belongs in CHANGELOG.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINKED = [*PAGES, ROOT / "CHANGELOG.md"]  # the changelog may tell history, but its links resolve too
README_MAX_LINES = 200

_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*#*\s*$", re.M)
# "round" as a unit of work ("this round", "earlier rounds"); "round trip" is not one
_ROUND = re.compile(r"\brounds?\b(?![- ]trips?\b)", re.I)
# a commit named by its hash: 7 to 40 hex digits with at least one digit and one letter
_COMMIT = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans (links and headings there are not ones)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a page: lower case, punctuation dropped, spaces as
    hyphens, a repeated one suffixed -1, -2..."""
    seen: dict[str, int] = {}
    found = set()
    for match in _HEADING.finditer(_FENCE.sub("", text)):
        heading = match["text"].replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(page: Path, text: str) -> list[str]:
    """Every relative link of ``text`` (the content of ``page``) that reaches no file or no heading."""
    broken = []
    for match in _LINK.finditer(prose(text)):
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if path and not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md":
            own = text if resolved == page else resolved.read_text(encoding="utf-8")
            if anchor not in anchors(own):
                broken.append(f"{target}: no heading #{anchor}")
    return broken


def work_log_language(text: str) -> list[str]:
    return [match.group(0) for match in (*_ROUND.finditer(text), *_COMMIT.finditer(text))]


@pytest.mark.parametrize("page", LINKED, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page, page.read_text(encoding="utf-8")) == []


def test_a_missing_file_or_heading_is_a_broken_link(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## The `ops.who` tool\n", encoding="utf-8")
    page = tmp_path / "README.md"
    text = (
        "# Page\n## Two commands\n"
        "[ok](docs/other.md) [ok](docs/other.md#the-opswho-tool) [ok](#two-commands) "
        "[ok](https://example.com/x) ![ok](docs/other.md)\n"
        "[gone](docs/gone.md) [bad anchor](docs/other.md#nowhere) [bad own](#three-commands)\n"
        "`[in code](docs/gone.md)`\n```\n[in a block](docs/gone.md)\n```\n"
    )
    assert broken_links(page, text) == [
        "docs/gone.md: no such file",
        "docs/other.md#nowhere: no heading #nowhere",
        "#three-commands: no heading #three-commands",
    ]


def test_repeated_headings_get_numbered_anchors():
    assert anchors("# A\n## Notes\n## Notes\n```\n# not a heading\n```\n") == {"a", "notes", "notes-1"}


def test_the_readme_leads_in_at_most_200_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_page_reads_as_a_work_log(page):
    assert work_log_language(page.read_text(encoding="utf-8")) == []


def test_work_log_language_is_found():
    assert work_log_language(
        "Before this round's change: 1.33x. Tried this round: nothing. `make bench` on c36ba98. "
        "Earlier Rounds measured 0.5x. A round trip, a round-trip, 2026-11-26, 1,000 and ConnectFailed."
    ) == ["round", "round", "Rounds", "c36ba98"]
