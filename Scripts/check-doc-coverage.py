#!/usr/bin/env python3
"""Counts the public symbols without a doc comment in the named modules' symbol
graphs (from `swift package dump-symbol-graph`) and fails when there is one.

    Scripts/check-doc-coverage.py SYMBOLGRAPH_DIR MODULE...

Members the compiler synthesizes (Hashable's `hash(into:)`, `hashValue`, ...)
are not counted: they carry the standard library's documentation. An `@unsafe`
declaration must also have a "Safety" section in its comment.
"""
import glob
import json
import os
import sys


def is_unsafe(path, line, sources={}):
    """Whether the declaration at `line` (0-based) of `path` is marked `@unsafe`
    (symbol graphs leave the attribute out, so the source is read)."""
    if not path or line < 0:
        return False
    if path not in sources:
        try:
            sources[path] = open(path).read().split("\n")
        except OSError:
            sources[path] = []
    lines = sources[path]
    while 0 <= line < len(lines):
        text = lines[line].strip()
        if "@unsafe" in text.split("//")[0]:
            return True
        line -= 1
        if line < 0 or not lines[line].strip().startswith("@"):
            return False
    return False


def main(directory, modules):
    failures = []
    for module in modules:
        files = [os.path.join(directory, f"{module}.symbols.json")]
        files += sorted(glob.glob(os.path.join(directory, f"{module}@*.symbols.json")))
        if not os.path.exists(files[0]):
            failures.append(f"{module}: no symbol graph in {directory}")
            continue
        public = undocumented = unsafe = unsafe_without_safety = 0
        for path in files:
            for symbol in json.load(open(path))["symbols"]:
                if symbol["accessLevel"] not in ("public", "open"):
                    continue
                if "::SYNTHESIZED::" in symbol["identifier"]["precise"]:
                    continue
                public += 1
                name = ".".join(symbol["pathComponents"])
                where = symbol.get("location", {}).get("uri", "").replace("file://", "")
                line = symbol.get("location", {}).get("position", {}).get("line", -1) + 1
                comment = symbol.get("docComment")
                text = "\n".join(l["text"] for l in comment["lines"]) if comment else ""
                unsafe += is_unsafe(where, line - 1)
                if not text.strip():
                    undocumented += 1
                    failures.append(f"{where}:{line}: {module}.{name} has no doc comment")
                elif is_unsafe(where, line - 1) and "Safety" not in text:
                    unsafe_without_safety += 1
                    failures.append(f"{where}:{line}: @unsafe {module}.{name} has no Safety section")
        print(f"doc coverage: {module}: {public - undocumented} of {public} public symbols "
              f"documented; {unsafe - unsafe_without_safety} of {unsafe} @unsafe ones have a "
              f"Safety section")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
