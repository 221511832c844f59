"""Sphinx extension: refrnn's plain-text docstrings read as reStructuredText.

refrnn's docstrings are written to be read as plain text (help(), an editor):
aligned tables, |x| for a norm, names ending in "_". Before napoleon reads
the "Args:" / "Returns:" sections, the free text around them is made valid
reStructuredText without changing what a reader sees: indented blocks
become literal blocks, a list gets its blank lines, and |, * and a trailing
_ are escaped (``literals`` and *emphasis* are left alone).
"""
import re

SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns?|Yields?|Raises|Attributes|"
                     r"Examples?|Notes?|Warning|Keyword Args|Other Parameters):\s*$")
ESCAPES = [(re.compile(r"(?<!`)\|"), r"\\|"), (re.compile(r"(?<![`*])\*(?![*`])"), r"\\*"),
           (re.compile(r"(?<=\w)_(?=[\s.,;:)\\]|$)"), r"\\_")]


def _escape(line: str) -> str:
    # leave inline literals and *emphasis* (a word or words between stars) alone
    parts = re.split(r"(``[^`]*``|(?<![\w*])\*[A-Za-z][^*]*?[A-Za-z]\*(?![\w*]))", line)
    for i in range(0, len(parts), 2):
        for pattern, repl in ESCAPES:
            parts[i] = pattern.sub(repl, parts[i])
    return "".join(parts)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def plain_to_rst(lines: list) -> list:
    """The docstring ``lines`` with its free text made valid reStructuredText."""
    out, i, n, in_list = [], 0, len(lines), False
    while i < n:
        line = lines[i]
        if not line.strip():
            in_list = False
        if SECTION.match(line):                     # napoleon's: copied as it is
            base = _indent(line)
            out.append(line)
            i += 1
            while i < n and (not lines[i].strip() or _indent(lines[i]) > base):
                out.append(_escape(lines[i]))
                i += 1
            continue
        prev = out[-1] if out else ""
        if line.strip() and _indent(line) > 0 and prev.strip() and _indent(prev) == 0 \
                and not prev.lstrip().startswith("- "):
            block = []                              # an indented block: literal
            while i < n and (not lines[i].strip() or _indent(lines[i]) > 0):
                block.append(lines[i])
                i += 1
            out[-1] = prev[:-1] + "::" if prev.endswith(":") else prev
            if not out[-1].endswith("::"):
                out += ["", "::"]
            out += [""] + block + [""]
            continue
        if line.strip() and _indent(line) > 0 and not prev.strip() and \
                (len(out) < 2 or not out[-2].rstrip().endswith("::")) and \
                not line.lstrip().startswith("- "):
            block = []                              # a block after a blank line
            while i < n and (not lines[i].strip() or _indent(lines[i]) > 0):
                block.append(lines[i])
                i += 1
            out += ["::", ""] + block + [""]
            continue
        if line.lstrip().startswith("- ") and prev.strip() and not prev.lstrip().startswith("- ") \
                and _indent(prev) <= _indent(line):
            out.append("")                          # a list needs a blank line first
        elif line.strip() and _indent(line) == 0 and in_list and not line.startswith("- "):
            out.append("")                          # ... and one after it
            in_list = False
        if line.lstrip().startswith("- "):
            in_list = True
        out.append(_escape(line))
        i += 1
    return out


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = plain_to_rst(lines)


def setup(app):
    # before napoleon (priority 500), which turns "Args:" sections into fields
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    return {"parallel_read_safe": True}
