#!/usr/bin/env bash
# Runs the libFuzzer targets built in BUILD (make fuzz; docs/fuzzing.md): each replays its
# checked-in corpus tests/fuzz/<target>/, then fuzzes for SECONDS (0: replay only).
#
#   tests/fuzz/run.sh BUILD SECONDS [TARGET...]      (default: every target)
#
# Fails (exit 1) at the first target that crashes, leaks, trips a sanitizer, hangs (over
# 10 s for one input), asks for over 2 GiB at once or grows past 2 GiB; the input that did it
# is saved under BUILD/fuzz/artifacts/<target>/ and the end of the log is printed. New
# inputs the fuzzer finds go to BUILD/fuzz/corpus/<target>/ (not the checked-in corpus), so
# a longer run next time starts from where this one stopped.
set -euo pipefail
build=$(realpath "$1")
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy text wav taps tune_cache cli)

# One thread per process: the machine is shared, and the inputs are small.
export OMP_NUM_THREADS=1
# Leaks fail the run as crashes do; a sanitizer report stops at the first.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ "$seconds" -gt 0 ]; then budget=(-max_total_time="$seconds"); else budget=(-runs=0); fi
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  corpus=$build/fuzz/corpus/$t
  artifacts=$build/fuzz/artifacts/$t/
  log=$build/fuzz/$t.log
  mkdir -p "$corpus" "$artifacts"
  # -close_fd_mask=3: the readers' and the command's own output is not wanted; libFuzzer
  # and the sanitizers still report on a duplicate of stderr.
  if ! "$bin" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$artifacts" \
    "$corpus" "$here/$t" > "$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t FAILED; the input is in $artifacts (replay: $bin FILE; log: $log)" >&2
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
  echo "fuzz: $t ok: ${seconds}s, ${execs:-0} inputs (${rate:-0}/s), ${cov:-no coverage line}, corpus $(ls "$corpus" | wc -l) + $(ls "$here/$t" | wc -l) checked in"
done
