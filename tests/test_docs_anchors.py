"""docs/bptt.md quotes code lines with file:line anchors; each must still be there."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHOR = re.compile(r"`([^`]+)`\s*\|\s*`((?:refrnn|cli)/[\w/]+\.py):(\d+)`")


def anchors(text):
    """(code, path, line) for every "`code` | `path:line`" pair in ``text``."""
    return [(code, path, int(line)) for code, path, line in ANCHOR.findall(text)]


def stale(found):
    """One message for each anchor whose line no longer holds its quoted code."""
    out = []
    for code, path, line in found:
        lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
        if not (1 <= line <= len(lines) and code in lines[line - 1]):
            where = [i + 1 for i, text in enumerate(lines) if code in text]
            out.append(f"{path}:{line} does not hold `{code}` (found at {where or 'nowhere'})")
    return out


def test_every_quoted_line_is_at_its_anchor():
    found = anchors((ROOT / "docs" / "bptt.md").read_text(encoding="utf-8"))
    assert len(found) >= 25, f"docs/bptt.md has only {len(found)} anchors"
    assert {p for _, p, _ in found} >= {"refrnn/core/engine.py", "refrnn/backends/plain.py"}
    problems = stale(found)
    assert not problems, "\n".join(problems)


def test_a_moved_or_changed_line_is_reported():
    found = anchors((ROOT / "docs" / "bptt.md").read_text(encoding="utf-8"))
    code, path, line = found[0]
    assert not stale([(code, path, line)])
    assert stale([(code, path, line + 1)]) and stale([(code + " # changed", path, line)])
    assert "nowhere" in stale([("no such line in the code", path, line)])[0]


def test_analysis_md_quotes_the_task_variance_code_at_its_lines():
    """docs/analysis.md's line-by-line comparison with Yang et al.'s code."""
    found = anchors((ROOT / "docs" / "analysis.md").read_text(encoding="utf-8"))
    assert {p for _, p, _ in found} >= {"refrnn/analysis/task_variance.py",
                                        "refrnn/analysis/fractional.py"}, found
    problems = stale(found)
    assert not problems, "\n".join(problems)
