#!/usr/bin/env bash
# Instructions per operation under callgrind (repeatable on a shared machine):
# runs each operation at two counts and prints (I(high) - I(low)) / (high - low).
#   bash Benchmarks/instruction-counts.sh [operation ...]
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release --product InstructionCounts >/dev/null
binary=.build/release/InstructionCounts
count() { # operation format n -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$1" "$2" "$3" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
# operation, low count, high count, unit the count is in
plan=(
  "translate 1000 21000 call"
  "map-unmap-kept 1000 21000 pair"
  "exclusive-translate 1000 21000 call"
  "exclusive-map-unmap-kept 1000 21000 pair"
  "bulk-4k 1 3 page:262144"
  "runs-2m 20 120 block:256"
  "runs-2m-off 20 120 block:256"
  "runs-4k 1 3 page:262144"
  "runs-4k-off 1 3 page:262144"
)
selected=("$@")
printf '%-16s %-7s %14s %s\n' operation format instructions per
for line in "${plan[@]}"; do
  read -r op low high unit <<<"$line"
  if ((${#selected[@]})) && [[ ! " ${selected[*]} " == *" $op "* ]]; then continue; fi
  per=1
  if [[ $unit == *:* ]]; then per=${unit#*:}; unit=${unit%%:*}; fi
  for format in arm64 x86 riscv; do
    a=$(count "$op" "$format" "$low")
    b=$(count "$op" "$format" "$high")
    printf '%-16s %-7s %14s %s\n' "$op" "$format" \
      "$(awk -v a="$a" -v b="$b" -v n=$((high - low)) -v p="$per" 'BEGIN { printf "%.1f", (b - a) / n / p }')" "$unit"
  done
done
