#!/usr/bin/env python3
"""Rewrites the line anchors of the documentation's links to code from the names
written in the links.

    python3 scripts/relink-docs.py           # rewrite every stale anchor in place
    python3 scripts/relink-docs.py --check   # only report; exit status 1 if any is stale
    python3 scripts/relink-docs.py --resolve FILE.rs NAME...   # print each NAME's lines
    python3 scripts/relink-docs.py --resolve -   # the same for `FILE.rs NAME` lines on stdin
                                             # (tests/docs.rs compares the answers with its own)

The convention (tests/docs.rs checks it): a link with a line anchor has the item's
name in backticks as its text, optionally qualified by the impl type, trait or
module it sits in, and points at a Rust file:

    [`dense_forward`](../src/nn/dense.rs#L27)
    [`Adam::update`](../src/optim.rs#L54)          a method of `impl Adam` (or `impl X for Adam`)
    [`tests::some_test`](../src/optim.rs#L142)     a function of `mod tests`
    [`Band`](../src/gradcheck.rs#L317-L340)        a range: the declaration to its closing line

The anchor is the line of the declaration itself (`pub fn dense_forward(`), not its
doc comment. An unqualified name resolves to the outermost declaration of that name
in the file (a free function before a method of the same name); when several remain
in different places the link must say which, and the script stops with a message,
as it does for a name the file does not declare.

Scopes are read from rustfmt's indentation (CI runs `cargo fmt --check`): an item
indented by 4·k spaces belongs to the nearest `impl`, `trait`, `mod` or `fn` header
above it indented less. tests/docs.rs resolves names the same way; keep the two in
step. Python 3 standard library only.
"""

import functools
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# [`name`](path.rs#L12) or [`name`](path.rs#L12-L30)
LINK = re.compile(r"\[`([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)`\]\(([^)#\s]+\.rs)#L(\d+)(?:-L(\d+))?\)")
# Any link to a Rust file with a line anchor, to catch those that break the convention.
ANY_ANCHORED = re.compile(r"\[([^\]]*)\]\(([^)#\s]+\.rs)#L[0-9][^)]*\)")

KEYWORDS = ("fn", "struct", "enum", "const", "static", "type", "trait", "mod", "union")
# Words that may precede the keyword of a declaration.
QUALIFIERS = ("const", "async", "unsafe", "default", "extern")


def documents():
    """The markdown files whose links are kept: README.md, docs/*.md, data/README.md."""
    files = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md")) + [ROOT / "data" / "README.md"]
    return [f for f in files if f.exists()]


def indent(line):
    return len(line) - len(line.lstrip(" "))


def strip_visibility(text):
    """`pub(crate) unsafe fn x` -> `unsafe fn x`."""
    if text.startswith("pub("):
        close = text.find(")")
        return text[close + 1 :].lstrip() if close >= 0 else text
    if text.startswith("pub "):
        return text[4:].lstrip()
    return text


def declared_name(line):
    """(keyword, name) if the line declares an item, else None."""
    text = strip_visibility(line.strip())
    words = text.split()
    i = 0
    while i < len(words) and words[i] in QUALIFIERS and not (
        words[i] == "const" and i + 1 < len(words) and words[i + 1] not in KEYWORDS + QUALIFIERS
    ):
        # `extern "C" fn`: skip the ABI string too.
        if words[i] == "extern" and i + 1 < len(words) and words[i + 1].startswith('"'):
            i += 1
        i += 1
    if i + 1 >= len(words) or words[i] not in KEYWORDS:
        return None
    keyword, rest = words[i], words[i + 1]
    if keyword == "static" and rest == "mut" and i + 2 < len(words):
        rest = words[i + 2]
    match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", rest)
    return (keyword, match.group(0)) if match else None


def scope_name(header):
    """The name a scope header gives its contents: `impl<T> Tr for Ty<T>` -> Ty,
    `impl Ty` -> Ty, `mod m` -> m, `trait T` -> T, `fn f(` -> f; else None."""
    text = strip_visibility(header.strip())
    text = re.sub(r"^unsafe\s+", "", text)
    if text.startswith("impl") and (len(text) == 4 or text[4] in " <"):
        text = text[4:]
        if text.startswith("<"):  # skip the generic parameters, nested brackets included
            depth = 0
            for at, c in enumerate(text):
                depth += (c == "<") - (c == ">")
                if depth == 0:
                    text = text[at + 1 :]
                    break
        words = text.split("{")[0].split()
        if "where" in words:
            words = words[: words.index("where")]
        if "for" in words:
            words = words[words.index("for") + 1 :]
        path = " ".join(words).split("<")[0].strip()
        name = path.split("::")[-1].strip()
        return name or None
    declared = declared_name(header)
    return declared[1] if declared else None


def scope_path(lines, at):
    """Names of the scopes around line `at` (0-based), outermost first."""
    path = []
    level = indent(lines[at])
    row = at
    while level > 0 and row > 0:
        row -= 1
        line = lines[row]
        if not line.strip() or indent(line) >= level:
            continue
        stripped = line.strip()
        if stripped.startswith(("//", "#", "}", ")", "]", "*")):
            continue
        level = indent(line)
        # A header spread over lines (`impl X\nwhere\n    T: Y,\n{`, or a long
        # `fn` signature ending in `) -> T {`): walk up to its first line.
        header_row = row
        while scope_name(lines[header_row]) is None and header_row > 0:
            above = lines[header_row - 1]
            if above.strip() and (
                indent(above) < level
                or (indent(above) == level and above.rstrip().endswith((";", "}")))
            ):
                break
            header_row -= 1
        path.append(scope_name(lines[header_row]) or "?")
        row = header_row
    return list(reversed(path))


def closing_line(lines, at):
    """0-based line that ends the item declared at line `at`."""
    line = lines[at].split("//")[0]
    if line.rstrip().endswith(";") or 0 < line.count("{") == line.count("}"):
        return at
    level = indent(lines[at])
    for row in range(at + 1, len(lines)):
        line = lines[row]
        stripped = line.strip()
        if indent(line) == level and (
            stripped.startswith("}") or (stripped.startswith(")") and stripped.endswith(";"))
        ):
            return row
        if line.strip() and indent(line) < level:
            break
    return at


@functools.lru_cache(maxsize=None)
def declarations(source):
    """(0-based row, name, scope path) of every item the Rust text declares."""
    lines = source.split("\n")
    found = []
    for row, line in enumerate(lines):
        declared = declared_name(line)
        if declared:
            found.append((row, declared[1], scope_path(lines, row)))
    return found


def resolve(source, qualified):
    """(first, last) 1-based lines of the item `qualified` (`name` or `Scope::name`)
    in the Rust text `source`; raises LookupError with the reason if there is none or
    the name is ambiguous."""
    *qualifier, name = qualified.split("::")
    lines = source.split("\n")
    found = [
        (row, path)
        for row, declared, path in declarations(source)
        if declared == name and (not qualifier or path[-len(qualifier) :] == qualifier)
    ]
    if not found:
        raise LookupError(f"`{qualified}` is not declared in this file")
    shortest = min(len(path) for _, path in found)
    found = [(row, path) for row, path in found if len(path) == shortest]
    paths = {tuple(path) for _, path in found}
    if len(paths) > 1:
        places = ", ".join("::".join(p + (name,)) for p in sorted(paths))
        raise LookupError(f"`{qualified}` is ambiguous ({places}): qualify it in the link")
    row = found[0][0]  # several with one path: #[cfg] variants; the first one
    return row + 1, closing_line(lines, row) + 1


def relink(doc, sources, check_only):
    """Returns (new text, list of changes, list of errors) for one markdown file."""
    text = doc.read_text()
    changes, errors = [], []

    def replace(match):
        qualified, target, first, last = match.group(1), match.group(2), match.group(3), match.group(4)
        path = (doc.parent / target).resolve()
        where = f"{doc.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
        if path not in sources:
            try:
                sources[path] = path.read_text()
            except OSError as e:
                errors.append(f"{where}: [`{qualified}`]({target}): {e.strerror}")
                return match.group(0)
        try:
            start, end = resolve(sources[path], qualified)
        except LookupError as e:
            errors.append(f"{where}: [`{qualified}`]({target}): {e}")
            return match.group(0)
        anchor = f"L{start}" if last is None else f"L{start}-L{end}"
        old = f"L{first}" if last is None else f"L{first}-L{last}"
        if anchor != old:
            changes.append(f"{where}: `{qualified}` {target}#{old} -> #{anchor}")
        return f"[`{qualified}`]({target}#{anchor})"

    new = LINK.sub(replace, text)
    for match in ANY_ANCHORED.finditer(text):
        if not LINK.fullmatch(match.group(0)):
            line = text.count("\n", 0, match.start()) + 1
            errors.append(
                f"{doc.relative_to(ROOT)}:{line}: {match.group(0)} has a line anchor, so its text "
                "must be the item's name in backticks, e.g. [`dense_forward`](../src/nn/dense.rs#L27)"
            )
    return new, changes, errors


def main(argv):
    if argv[1:2] == ["--resolve"] and len(argv) >= 3:
        if argv[2] == "-":
            queries = [line.split() for line in sys.stdin if line.strip()]
        else:
            queries = [(argv[2], name) for name in argv[3:]]
        for path, name in queries:
            try:
                print(path, name, *resolve(Path(path).read_text(), name))
            except LookupError as e:
                print(path, name, "error", e)
        return 0
    check_only = "--check" in argv[1:]
    unknown = [a for a in argv[1:] if a != "--check"]
    if unknown:
        print(__doc__, file=sys.stderr)
        return 2
    sources, all_changes, all_errors = {}, [], []
    for doc in documents():
        new, changes, errors = relink(doc, sources, check_only)
        all_changes += changes
        all_errors += errors
        if changes and not check_only:
            doc.write_text(new)
    for change in all_changes:
        print(("stale: " if check_only else "relinked: ") + change)
    for error in all_errors:
        print("error: " + error, file=sys.stderr)
    if all_errors:
        return 2
    if check_only and all_changes:
        print(f"{len(all_changes)} anchors are stale: run `python3 scripts/relink-docs.py`")
        return 1
    if not all_changes:
        print("every line anchor is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
