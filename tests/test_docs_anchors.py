"""docs/bptt.md quotes code lines with file:line anchors; each must still be there."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHOR = re.compile(r"`([^`]+)`\s*\|\s*`((?:refrnn|cli)/[\w/]+\.py):(\d+)`")


def anchors(text):
    """(code, path, line) for every "`code` | `path:line`" pair in ``text``."""
    return [(code, path, int(line)) for code, path, line in ANCHOR.findall(text)]


def test_every_quoted_line_is_at_its_anchor():
    doc = (ROOT / "docs" / "bptt.md").read_text(encoding="utf-8")
    found = anchors(doc)
    assert len(found) >= 25, f"docs/bptt.md has only {len(found)} anchors"
    assert {p for _, p, _ in found} >= {"refrnn/engine.py", "refrnn/primitives_array.py"}
    stale = []
    for code, path, line in found:
        lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
        if not (1 <= line <= len(lines) and code in lines[line - 1]):
            where = [i + 1 for i, text in enumerate(lines) if code in text]
            stale.append(f"{path}:{line} does not hold `{code}` (found at {where or 'nowhere'})")
    assert not stale, "\n".join(stale)


def test_the_anchor_check_can_fail():
    text = "| x | `out += self.W @ x` | `refrnn/primitives_array.py:1` |"
    (code, path, line), = anchors(text)
    first = (ROOT / path).read_text(encoding="utf-8").splitlines()[line - 1]
    assert code not in first
