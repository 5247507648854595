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
#   Scripts/fuzz.sh --runs 0                    # build only (then run a harness by hand)
#
# Reproduce a crash: .build-fuzz/debug/<harness> <crash-file>
#
# Each run also fails when a harness did not really explore: when libFuzzer did not
# load every file of Fuzz/Corpus/<harness>, or when the coverage it ends with (the
# `cov:` of its DONE line: edges of instrumented code reached) is below the
# harness's floor below. The floors are about 60% of what seed 1 on 300 inputs
# reaches from the kept corpus (RELIABILITY.md has the figures); a build whose
# Swift code is not instrumented, a missing corpus or a harness that returns early
# reaches a few dozen edges at most.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-fuzz
harnesses=(FuzzTableOperations FuzzPageLayer FuzzDumpReaders FuzzMappingSpec)
floor() {
  case "$1" in
    FuzzTableOperations) echo 2400 ;;
    FuzzPageLayer) echo 900 ;;
    FuzzDumpReaders) echo 400 ;;
    FuzzMappingSpec) echo 2400 ;;
    *) echo 1 ;;
  esac
}
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
# Swift seeds its hashing per process; fixed, Set and Dictionary orders repeat too.
if [ -n "$runs" ]; then
  bound=(-seed=1 -runs="$runs")
  export SWIFT_DETERMINISTIC_HASHING=1
else
  bound=(-max_total_time="$seconds")
fi
[ $# -gt 0 ] && harnesses=("$@")

# A failed build must stop here (binaries left from an earlier build would run).
mkdir -p "$scratch/artifacts"
build=0
# SwiftPM passes its two --sanitize flags to swiftc as two -sanitize= arguments, in
# an order that changes from run to run, and the last one alone takes effect: the
# Swift code got either libFuzzer's coverage or AddressSanitizer, never both (the
# C targets got both). The combined flag, given last, makes the Swift code get both.
swift build --package-path Fuzz --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address \
  -Xswiftc -sanitize=fuzzer,address >"$scratch/build.log" 2>&1 || build=$?
grep -v "Cannot export local symbol" "$scratch/build.log" || true
[ "$build" = 0 ] || { echo "error: the fuzz build failed (log: $scratch/build.log)" >&2; exit 1; }
bin="$scratch/debug"
if [ "$runs" = 0 ]; then
  echo "fuzz: built ${harnesses[*]} in $bin (--runs 0: nothing run)"
  exit 0
fi
failed=""
shallow=""
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
  log="$scratch/$harness.log"
  executed="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  # libFuzzer prints `cov: N ft: M` on its INITED line (after running the corpus)
  # and DONE line (at the end); it leaves `cov:` out while the coverage is zero.
  initial="$(grep -E '^#[0-9]+[[:space:]]+INITED' "$log" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo 0)"
  edges="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo 0)"
  features="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo 0)"
  kept="$(find "Fuzz/Corpus/$harness" -type f | wc -l)"
  loaded="$(grep -o "[0-9]* files found in Fuzz/Corpus/$harness" "$log" | grep -o '^[0-9]*' || echo 0)"
  if [ "$status" != 0 ]; then
    echo "fuzz: $harness FAILED after $executed runs (log: $log)"
    grep -m5 -E "ERROR|Fatal error|fatal error|SUMMARY" "$log" || true
    failed="$failed $harness"
  elif [ "$loaded" != "$kept" ]; then
    echo "fuzz: $harness read $loaded of the $kept inputs in Fuzz/Corpus/$harness (log: $log)"
    shallow="$shallow $harness"
  elif [ "$edges" -lt "$(floor "$harness")" ]; then
    echo "fuzz: $harness reached only $edges coverage edges (floor $(floor "$harness")): not exploring (log: $log)"
    shallow="$shallow $harness"
  else
    echo "fuzz: $harness ${runs:-${seconds}s}, $executed inputs from $kept kept, cov $initial -> $edges edges (floor $(floor "$harness")), ft $features, no crash"
  fi
done
if [ -n "$failed" ]; then
  echo "error: fuzzing found crashes in:$failed (artifacts in $scratch/artifacts)" >&2
  exit 1
fi
if [ -n "$shallow" ]; then
  echo "error: fuzzing did not explore in:$shallow (corpus not read or coverage below the floor)" >&2
  exit 1
fi
