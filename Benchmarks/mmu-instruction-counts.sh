#!/usr/bin/env bash
# The MMU model's instructions per operation under callgrind (repeatable on a
# shared machine): runs each operation at two counts and prints
# (I(high) - I(low)) / (high - low).
#   bash Benchmarks/mmu-instruction-counts.sh [operation ...]
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release --product MMUModelInstructionCounts >/dev/null
binary=.build/release/MMUModelInstructionCounts
count() { # operation n -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
operations=(hit-off hit-on miss-off miss-on write-sync write-told write-fill)
if (($#)); then operations=("$@"); fi
printf '%-12s %14s\n' operation instructions
for op in "${operations[@]}"; do
  a=$(count "$op" 10000)
  b=$(count "$op" 30000)
  printf '%-12s %14s\n' "$op" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (b - a) / 20000 }')"
done
