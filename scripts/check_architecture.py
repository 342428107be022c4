#!/usr/bin/env python3
"""The shape rules of src/ (ARCHITECTURE.md), checked on the text of the tree:

- no import circle between files: every `use crate::...`, `super::...` and inline `crate::a::b`
  path is an edge from its file to the file that defines it (re-exports of a `mod.rs` or
  `lib.rs` are followed to the file that holds the item);
- no import against ARCHITECTURE.md's line (`LINE`): a module imports only modules before it;
- no file over MAX_FILE_LINES lines, no function over MAX_FN_LINES lines;
- `unsafe` only under src/ffi/ and in the one raw-GDAL module, src/raster/gdal.rs.

Prints every violation and exits 1 when there is one.
    scripts/check_architecture.py [SRC_DIR]
"""
import re
import sys

sys.setrecursionlimit(10000)
from pathlib import Path

# ARCHITECTURE.md's module line, lowest first: a file may import files of its own rank or lower.
LINE = [
    ["error"], ["atomic", "memory"], ["grammar"], ["grid"], ["card"], ["detect", "metrics", "onnx", "plot", "progress"],
    ["inference"], ["raster"], ["options"], ["resolve"], ["tasks"], ["plan"], ["stitch"], ["run", "lazy"],
    ["eval", "tiles"], ["ffi"],
]
RANK = {name: rank for rank, names in enumerate(LINE) for name in names}
MAX_FILE_LINES = 600
MAX_FN_LINES = 100
UNSAFE_ALLOWED = ("ffi/", "raster/gdal.rs")


def strip_comments_and_strings(text):
    """The code with comments, string and char literals blanked (lines kept), so that braces and
    words inside them do not count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 8]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^'\\])'", text[i:])
            if m:
                out.append("' '")
                i += m.end()
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_path(src, file):
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def file_of(src, parts):
    """The longest prefix of a module path that is a file, and the rest of the path."""
    for k in range(len(parts), -1, -1):
        base = src.joinpath(*parts[:k]) if k else src
        for cand in ([base.with_suffix(".rs"), base / "mod.rs"] if k else [src / "lib.rs"]):
            if cand.is_file():
                return cand, parts[k:]
    return None, parts


def expand_use(tree):
    """`a::{b::c, d}` -> ['a::b::c', 'a::d'] (nested groups, `self`, renames)."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, body = m.group(1), m.group(2)
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        items.append(cur)
    out = []
    for item in items:
        for p in expand_use(item):
            out.append((prefix + p).removesuffix("::self"))
    return out


def references(src, file, code):
    """Absolute module paths (lists of names) this file refers to."""
    here = module_path(src, file)
    is_mod = file.name in ("mod.rs", "lib.rs")
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        for p in expand_use(m.group(1)):
            paths.append(p)
    body = re.sub(r"\buse\s+[^;]+;", "", code)
    paths += re.findall(r"\b(?:crate|super)(?:::\w+)+", body)
    out = []
    for p in paths:
        segs = [s for s in p.split("::") if s]
        if not segs:
            continue
        if segs[0] == "crate":
            out.append(segs[1:])
        elif segs[0] == "super":
            base = here if is_mod else here[:-1]
            while segs and segs[0] == "super":
                segs = segs[1:]
                base = base[:-1] if segs and segs[0] == "super" else base
            out.append(base + segs if is_mod else base + segs)
        elif segs[0] == "self" and is_mod:
            out.append(here + segs[1:])
    return out


def reexports(src, file, code):
    """name -> absolute path for the `pub use` lines of a mod.rs / lib.rs."""
    here = module_path(src, file)
    table = {}
    for m in re.finditer(r"\bpub\s+use\s+([^;]+);", code):
        for p in expand_use(m.group(1)):
            segs = [s for s in p.split("::") if s]
            if segs and segs[0] == "crate":
                segs = segs[1:]
            elif segs and segs[0] == "self":
                segs = here + segs[1:]
            else:
                segs = here + segs
            table[segs[-1]] = segs
    return table


def function_lengths(code):
    """(name, first line, lines) of each `fn` with a body."""
    for m in re.finditer(r"\bfn\s+(\w+)", code):
        start = code.find("{", m.end())
        semi = code.find(";", m.end())
        if start < 0 or (0 <= semi < start):
            continue
        depth, j = 0, start
        while j < len(code):
            depth += code[j] == "{"
            depth -= code[j] == "}"
            if depth == 0:
                break
            j += 1
        first = code.count("\n", 0, m.start()) + 1
        yield m.group(1), first, code.count("\n", m.start(), j) + 1


def circles(graph):
    """The strongly connected components of more than one file (Tarjan), each a set of files
    that import each other round a circle."""
    index, low, on, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src")
    every = sorted(src.rglob("*.rs"))
    # The binaries under src/bin are crates of their own (no `crate::` into the library): their
    # size and `unsafe` are checked, not their imports.
    files = [p for p in every if "bin" not in p.relative_to(src).parts]
    codes = {f: strip_comments_and_strings(f.read_text()) for f in every}
    exports = {tuple(module_path(src, f)): reexports(src, f, c) for f, c in codes.items()
               if f.name in ("mod.rs", "lib.rs")}
    problems = []
    graph = {}
    for f in files:
        code = codes[f]
        if f.name == "lib.rs":
            continue  # the crate root declares and re-exports every module
        edges = graph.setdefault(f, set())
        for parts in references(src, f, code):
            target, rest = file_of(src, parts)
            for _ in range(8):  # follow re-exports through mod.rs files
                if target is None or target.name not in ("mod.rs", "lib.rs") or not rest:
                    break
                table = exports.get(tuple(module_path(src, target)), {})
                if rest[0] not in table:
                    break
                target, rest = file_of(src, table[rest[0]])
            if target is not None and target != f and target.name != "lib.rs":
                edges.add(target)
    for f, targets in sorted(graph.items()):
        top = f.relative_to(src).parts[0].removesuffix(".rs")
        for t in sorted(targets):
            other = t.relative_to(src).parts[0].removesuffix(".rs")
            if top not in RANK or other not in RANK:
                problems.append(f"{f.relative_to(src).as_posix()}: module not in LINE ({top if top not in RANK else other})")
            elif RANK[other] > RANK[top]:
                problems.append(f"{f.relative_to(src).as_posix()} imports {t.relative_to(src).as_posix()}, "
                                f"which comes later in ARCHITECTURE.md's line")
    for comp in circles(graph):
        problems.append("import circle between: " + ", ".join(p.relative_to(src).as_posix() for p in comp))
    for f, code in codes.items():
        rel = f.relative_to(src).as_posix()
        lines = f.read_text().count("\n")
        if lines > MAX_FILE_LINES:
            problems.append(f"{rel}: {lines} lines (at most {MAX_FILE_LINES})")
        for name, first, length in function_lengths(code):
            if length > MAX_FN_LINES:
                problems.append(f"{rel}:{first}: fn {name} has {length} lines (at most {MAX_FN_LINES})")
        if re.search(r"\bunsafe\b", code) and not rel.startswith(UNSAFE_ALLOWED[0]) and rel != UNSAFE_ALLOWED[1]:
            problems.append(f"{rel}: `unsafe` outside src/ffi/ and src/raster/gdal.rs")
    for p in problems:
        print(p)
    print(f"check_architecture: {len(every)} files, {sum(len(e) for e in graph.values())} imports, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
