#!/usr/bin/env bash
# fuzz/run.sh BUILD SECONDS TARGET...: runs each libFuzzer target of BUILD (make fuzz-build) for SECONDS, one
# after the other, and prints a line per target: executions, coverage, findings.
#   corpus:   BUILD/corpus/TARGET (grows; kept between runs) over the seeds fuzz/corpus/TARGET and the saved
#             findings fuzz/regressions/TARGET, both read only;
#   findings: BUILD/findings/TARGET/{crash,leak,oom,timeout}-<sha1> and the log, log.txt.
# Fork mode (FUZZ_FORK=1, the default): a finding is saved and the run goes on, so one short run reports every
# kind of crash it meets instead of stopping at the first. FUZZ_FORK=0 stops at the first.
set -uo pipefail
build=$1 seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
fork=${FUZZ_FORK:-1}

# Longest input per target: each seed fits, the fuzzer does not waste time on megabytes.
max_len() {
    case $1 in
        checkpoint) echo 131072 ;;
        idx | tar) echo 65536 ;;
        request) echo 65536 ;;
        *) echo 16384 ;;
    esac
}

summary=()
for t in "$@"; do
    bin=$build/fuzz/fuzz_$t
    if [ ! -x "$bin" ]; then  # fuzz_http_request needs the HTTP framing of serve (fuzz/CMakeLists.txt)
        echo "fuzz/run.sh: no $bin: skipped" >&2
        summary+=("$(printf '%-11s not built' "$t")")
        continue
    fi
    findings=$build/findings/$t corpus=$build/corpus/$t
    mkdir -p "$findings" "$corpus"
    args=(-max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10
          -artifact_prefix="$findings/" -print_final_stats=1)
    [ -f "$root/fuzz/dict/$t.dict" ] && args+=(-dict="$root/fuzz/dict/$t.dict")
    [ "$fork" = 1 ] && args+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
    seeds=("$root/fuzz/corpus/$t")
    [ -d "$root/fuzz/regressions/$t" ] && seeds+=("$root/fuzz/regressions/$t")
    echo "== fuzz_$t: ${seconds}s" >&2
    "$bin" "${args[@]}" "$corpus" "${seeds[@]}" >"$findings/log.txt" 2>&1
    rc=$?
    # The last status line: "#EXECS ... cov: N ft: N corp: N/Nb ... exec/s: N".
    status=$(grep -E '^#[0-9]+' "$findings/log.txt" | tail -1)
    execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$status")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")
    n=$(find "$findings" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
    line=$(printf '%-11s %10s execs  cov %6s  findings %3s  (exit %s, %s)' "$t" "${execs:-?}" "${cov:-?}" "$n" "$rc" "$findings/log.txt")
    echo "$line" >&2
    summary+=("$line")
done
echo
echo "target          executions   coverage   findings (build/findings/<target>/)"
printf '%s\n' "${summary[@]}"
