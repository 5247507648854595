#!/usr/bin/env bash
# The command line's basics, as README's "Exit codes" documents them: --version,
# usage errors exit 2 (unknown subcommand, `help UNKNOWN`, a conformance filter
# that matches nothing, which also lists the configurations, an unreadable
# input), and every subcommand's help with an example. Every exit code of every
# subcommand: Tests/PageTableImagesTests/CommandLineTests.swift.
set -uo pipefail
cd "$(dirname "$0")/.."
pgtable="$(swift build --show-bin-path)/pgtable"
[ -x "$pgtable" ] || { echo "error: build pgtable first (swift build)" >&2; exit 1; }
failed=0
expect() { # expect STATUS PATTERN ARGUMENTS...
  local want="$1" pattern="$2"
  shift 2
  output="$("$pgtable" "$@" 2>&1)"
  status=$?
  if [ "$status" -ne "$want" ] || ! grep -q -- "$pattern" <<<"$output"; then
    echo "error: pgtable $* exited $status (want $want) or lacks '$pattern':" >&2
    echo "$output" >&2
    failed=1
  else
    echo "cli: pgtable $* -> $status"
  fi
}
version="$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/PageTablesTools/PackageVersion.swift)"
expect 0 "^$version\$" --version
expect 0 "SUBCOMMANDS" --help
expect 2 "unknown subcommand 'UNKNOWN'" help UNKNOWN
expect 2 "Unexpected argument 'bogus'" bogus
expect 2 "ARM64 s1 4K ias48 oas48 host-built" conformance --filter "no such machine"
expect 1 "staleTranslation" replay Examples/Traces/unmap-without-invalidation.jsonl
expect 2 "cannot read trace" replay /nonexistent.jsonl
expect 2 "cannot read /nonexistent.img" dump /nonexistent.img
for subcommand in demo conformance build dump translate diff bench replay; do
  expect 0 "^  pgtable $subcommand" help "$subcommand"
done
exit "$failed"
