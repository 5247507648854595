#!/usr/bin/env bash
# Builds the libFuzzer harnesses in Fuzz/ (AddressSanitizer + libFuzzer) and runs
# each for a bounded time, seeded from the corpus kept in Fuzz/Corpus/<harness>.
# New interesting inputs go to .build-fuzz/corpus/<harness> (not the repository);
# a crash writes .build-fuzz/artifacts/<harness>-crash-* and fails the script.
#
#   Scripts/fuzz.sh [seconds-per-harness]       # default 60
#   Scripts/fuzz.sh 30 FuzzPageLayer            # one harness
#   Scripts/fuzz.sh --merge                     # minimise the found inputs into Fuzz/Corpus
#   Scripts/fuzz.sh --runs 300                  # deterministic: seed 1, 300 inputs each (CI)
#
# Reproduce a crash: .build-fuzz/debug/<harness> <crash-file>
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-fuzz
harnesses=(FuzzTableOperations FuzzPageLayer FuzzDumpReaders FuzzMappingSpec)
merge=0
seconds=60
runs=""
if [ "${1:-}" = "--merge" ]; then
  merge=1
  shift
elif [ "${1:-}" = "--runs" ]; then
  runs="$2"
  shift 2
elif [ -n "${1:-}" ]; then
  seconds="$1"
  shift
fi
# A time bound explores differently on every run; --runs N with a fixed seed makes
# the same inputs each time (what CI runs, so it cannot fail at random).
if [ -n "$runs" ]; then bound=(-seed=1 -runs="$runs"); else bound=(-max_total_time="$seconds"); fi
[ $# -gt 0 ] && harnesses=("$@")

swift build --package-path Fuzz --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address \
  2>&1 | grep -v "Cannot export local symbol" || true
bin="$scratch/debug"
mkdir -p "$scratch/artifacts"
failed=""
for harness in "${harnesses[@]}"; do
  [ -x "$bin/$harness" ] || { echo "error: $bin/$harness was not built" >&2; exit 1; }
  work="$scratch/corpus/$harness"
  mkdir -p "$work"
  if [ "$merge" = 1 ]; then
    "$bin/$harness" -merge=1 "Fuzz/Corpus/$harness" "$work" >"$scratch/$harness.log" 2>&1
    echo "fuzz: $harness corpus merged: $(ls "Fuzz/Corpus/$harness" | wc -l) inputs"
    continue
  fi
  # XCTest-free binaries: leaks are real findings, so LeakSanitizer stays on
  # (Foundation's own are suppressed in Fuzz/lsan-suppressions.txt).
  status=0
  LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan-suppressions.txt" "$bin/$harness" "${bound[@]}" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$scratch/artifacts/$harness-" "$work" "Fuzz/Corpus/$harness" \
    >"$scratch/$harness.log" 2>&1 || status=$?
  executed="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$harness.log" | grep -o '[0-9]*$' || echo '?')"
  edges="$(grep -o 'cov: [0-9]*' "$scratch/$harness.log" | tail -1 | grep -o '[0-9]*' || echo '?')"
  if [ "$status" != 0 ]; then
    echo "fuzz: $harness FAILED after $executed runs (log: $scratch/$harness.log)"
    grep -m5 -E "ERROR|Fatal error|fatal error|SUMMARY" "$scratch/$harness.log" || true
    failed="$failed $harness"
  else
    echo "fuzz: $harness ${runs:-${seconds}s}, $executed inputs, $edges coverage edges, no crash"
  fi
done
if [ -n "$failed" ]; then
  echo "error: fuzzing found crashes in:$failed (artifacts in $scratch/artifacts)" >&2
  exit 1
fi
