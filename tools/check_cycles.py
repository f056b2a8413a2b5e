#!/usr/bin/env python3
"""Fails when the module crate's import graph has a cycle.

Two levels are checked: the top-level modules of src/ (exec, model, dag, backend, config, ...),
and, inside each folder module, its files among themselves (commands/model ↔ commands/script).
A file importing its own folder's mod.rs (`super::`) and mod.rs using its children is the
normal shape of a Rust module and is not a cycle here; tests (`tests.rs`, `#[cfg(test)]`
blocks) are ignored, since a test may reach anything.

Usage: tools/check_cycles.py [SRC_DIR]   (default: src/ beside this script's folder)
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
# Modules outside the layering: the table of contents and the fuzzing entry points may see all.
EXEMPT = {"lib", "fuzzing"}


def module_path(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    return rel


def strip_tests(text):
    """Drops `#[cfg(test)] mod x { ... }` blocks (brace-matched) and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def references(mod, text):
    """Module paths this file names: crate::a::b…, super::x…, and `use` of its own children."""
    refs = []
    for m in re.finditer(r"\bcrate::((?:\w+::)*\w+)", text):
        refs.append(m.group(1).split("::"))
    for m in re.finditer(r"\bsuper::((?:\w+::)*\w+)", text):
        parent = mod[:-1] if len(mod) > 1 else []
        refs.append(parent + m.group(1).split("::"))
    for m in re.finditer(r"\buse\s+\{?\s*(\w+)::", text):
        if m.group(1) not in ("crate", "super", "self", "std", "core", "alloc"):
            refs.append(mod + [m.group(1)])
    # A use list such as `use crate::{a, b}` names several top-level modules.
    for m in re.finditer(r"\bcrate::\{([^}]*)\}", text):
        for part in m.group(1).split(","):
            part = part.strip()
            if part:
                refs.append(part.split("::"))
    return refs


def main():
    files = {}
    for dirpath, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs") and n != "tests.rs":
                p = os.path.join(dirpath, n)
                files[tuple(module_path(p))] = strip_tests(open(p, encoding="utf-8").read())
    modules = set(files)
    top = {}
    inner = {}
    for mod, text in files.items():
        if mod[0] in EXEMPT:
            continue
        for ref in references(list(mod), text):
            if not ref or ref[0] in EXEMPT or (ref[0],) not in modules:
                continue
            if ref[0] != mod[0]:
                top.setdefault(mod[0], set()).add(ref[0])
            elif len(mod) >= 2 and len(ref) >= 2 and ref[1] != mod[1] and (ref[0], ref[1]) in modules:
                inner.setdefault(mod[0], {}).setdefault(mod[1], set()).add(ref[1])
    cycles = find_cycles(top)
    for folder, graph in inner.items():
        cycles += [[f"{folder}::{n}" for n in c] for c in find_cycles(graph)]
    if cycles:
        for c in cycles:
            print("import cycle among: " + ", ".join(c))
        sys.exit(1)
    print(f"no import cycles ({len(top)} top-level modules import others)")


def find_cycles(graph):
    """One cycle per strongly connected component of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
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


if __name__ == "__main__":
    main()
