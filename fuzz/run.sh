#!/bin/sh
# Runs sockit's libFuzzer harnesses (see fuzz/README.md).  Called by make.
#
#   sh fuzz/run.sh run TARGET...    each for FUZZ_TIME seconds (default 60)
#   sh fuzz/run.sh merge TARGET...  add what build-fuzz/corpus/TARGET found
#                                   that is new coverage to fuzz/corpus/TARGET
#
# A run starts from build-fuzz/corpus/TARGET (a scratch corpus that grows
# from run to run and is never committed) and reads the seeds in
# fuzz/corpus/TARGET, which it leaves alone.  It exits 1 when any target
# crashed, timed out, leaked or ran out of memory, after naming the input
# that did it; at the end it prints the executions each target reached.
set -u
mode=$1
shift
dir=${FUZZ_BUILD:-build-fuzz}
time=${FUZZ_TIME:-60}
status=0
summary=""
passed=0
failed=0

run_one() {
  t=$1
  corpus=$dir/corpus/$t
  crashes=$dir/crashes/$t
  log=$dir/fuzz_$t.log
  dict=""
  mkdir -p "$corpus" "$crashes"
  [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
  echo "== fuzz_$t: ${time} s (log: $log)"
  # -timeout: one input may take 10 s; -rss_limit_mb: the whole process
  # stays under 2 GiB; -malloc_limit_mb: no single allocation of 256 MiB,
  # which none of the inputs (under 64 KiB) can justify.
  # shellcheck disable=SC2086
  "$dir/fuzz_$t" -max_total_time="$time" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -artifact_prefix="$crashes/" $dict "$corpus" "fuzz/corpus/$t" \
    >"$log" 2>&1 </dev/null
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/cov \1, features \2, corpus \3/p' "$log")
  if [ "$rc" -ne 0 ]; then
    status=1
    failed=$((failed + 1))
    tail -n 40 "$log"
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "sockit fuzz: fuzz_$t FAILED (exit $rc); input: ${input:-none written, see $log}"
    [ -n "$input" ] && echo "  reproduce: $dir/fuzz_$t $input"
    summary="$summary
fuzz_$t: FAILED after ${execs:-?} executions; input: ${input:-see $log}"
  else
    passed=$((passed + 1))
    summary="$summary
fuzz_$t: ${execs:-?} executions in $time s (${cov:-no stats})"
  fi
}

merge_one() {
  t=$1
  mkdir -p "$dir/corpus/$t"
  echo "== fuzz_$t: merging $dir/corpus/$t into fuzz/corpus/$t"
  "$dir/fuzz_$t" -merge=1 "fuzz/corpus/$t" "$dir/corpus/$t" </dev/null ||
    status=1
}

for t in "$@"; do
  case $mode in
  run) run_one "$t" ;;
  merge) merge_one "$t" ;;
  *)
    echo "usage: sh fuzz/run.sh run|merge TARGET..." >&2
    exit 2
    ;;
  esac
done
if [ "$mode" = run ]; then
  echo "== sockit fuzz summary:$summary"
  echo "fuzz: $passed passed, $failed failed"
fi
exit $status
