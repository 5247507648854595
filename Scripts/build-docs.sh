#!/usr/bin/env bash
# Builds a DocC archive for every Swift module of every library product, with
# the toolchain's `docc` straight from the symbol graphs of the debug build (no
# plugin, no second build). A module in `zeroWarnings` fails on any DocC warning;
# any other (a module still being written) has its warnings printed. Then checks
# that no public symbol of the modules in `documented` lacks a doc comment
# (Scripts/check-doc-coverage.py).
#
#   Scripts/build-docs.sh                 # archives in .build/docs/<Module>.doccarchive
#   Scripts/build-docs.sh --preview Mod   # serve one module's docs at http://localhost:8080
set -euo pipefail
cd "$(dirname "$0")/.."
# The modules whose every public symbol must carry a doc comment. A module joins
# when its documentation is complete.
documented=(PhysicalPages PageTables PhysicalPageTables PageTablesTools GPUVirtualMemory MMUModel PageTableImages)
# The modules held to zero DocC warnings (broken links, undocumented parameters).
zeroWarnings=(PhysicalPages PageTables PhysicalPageTables PageTablesTools GPUVirtualMemory MMUModel PageTableImages)
scratch="${SCRATCH_PATH:-.build}"
out="$scratch/docs"
mkdir -p "$out"

# Symbol graphs of the debug build. The test modules' graphs fail when the tests
# have not been built; only the library modules' are needed, and a missing one
# stops the script below.
graphs="$scratch/$(uname -m)-unknown-linux-gnu/symbolgraph"
[ "$(uname -s)" = Linux ] || graphs="$scratch/symbolgraph"
rm -rf "$graphs"
swift package --scratch-path "$scratch" dump-symbol-graph --minimum-access-level public \
  >"$out.symbolgraph.log" 2>&1 || true

# The Swift targets of the library products, in product order, each once (a C
# target such as CPageMemory has no symbol graph of its own).
modules=""
for target in $(swift package --scratch-path "$scratch" dump-package | python3 -c '
import json, sys
seen = []
for product in json.load(sys.stdin)["products"]:
    if "library" in product["type"]:
        seen += [t for t in product["targets"] if t not in seen]
print(" ".join(seen))
'); do
  if [ -n "$(find "Sources/$target" -name '*.swift' -print -quit 2>/dev/null)" ]; then
    modules="$modules $target"
  fi
done

if [ "${1:-}" = "--preview" ]; then
  module="${2:?--preview needs a module name}"
  set -- "$module"
  preview=1
else
  set -- $modules
  preview=0
fi

failed=""
for module in "$@"; do
  input="$out/$module.symbolgraphs"
  rm -rf "$input" && mkdir -p "$input"
  cp "$graphs/$module.symbols.json" "$input/" \
    || { cat "$out.symbolgraph.log" >&2; echo "error: no symbol graph for $module" >&2; exit 1; }
  find "$graphs" -maxdepth 1 -name "$module@*.symbols.json" -exec cp {} "$input/" \;
  catalog=()
  [ -d "Sources/$module/$module.docc" ] && catalog=("Sources/$module/$module.docc")
  common=(--additional-symbol-graph-dir "$input" --fallback-display-name "$module"
    --fallback-bundle-identifier "PageTables.$module")
  strict=0
  for name in "${zeroWarnings[@]}"; do [ "$name" = "$module" ] && strict=1; done
  [ "$strict" = 1 ] && common+=(--warnings-as-errors)
  if [ "$preview" = 1 ]; then
    exec docc preview "${catalog[@]}" "${common[@]}" --port 8080
  fi
  docc convert "${catalog[@]}" "${common[@]}" --transform-for-static-hosting \
    --output-path "$out/$module.doccarchive" >"$out/$module.log" 2>&1 \
    || { cat "$out/$module.log" >&2; failed="$failed $module"; continue; }
  warnings="$(grep -c '^warning:' "$out/$module.log" || true)"
  if [ "$warnings" != 0 ]; then
    grep -A2 '^warning:' "$out/$module.log" >&2
    echo "docs: $module has $warnings DocC warning(s) (not yet held to zero: see zeroWarnings)"
  fi
  echo "docs: $module -> $out/$module.doccarchive"
done
if [ -n "$failed" ]; then
  echo "error: DocC warned or failed for:$failed" >&2
  exit 1
fi

python3 Scripts/check-doc-coverage.py "$graphs" "${documented[@]}"
