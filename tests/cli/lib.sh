# Sourced by every CLI test: strict mode, a private scratch folder, and assertion helpers.
set -euo pipefail
: "${DLCTL:?run through ctest}" "${DLCTL_SOURCE_DIR:?}" "${TEST_TMPDIR:?}"
rm -rf "$TEST_TMPDIR"; mkdir -p "$TEST_TMPDIR"
T=$TEST_TMPDIR
SRC=$DLCTL_SOURCE_DIR
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_rc WANT CMD...: runs CMD, fails unless it exits WANT; stdout in $T/out, stderr in $T/err
expect_rc() {
  local want=$1; shift
  local rc=0
  "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
  [ "$rc" = "$want" ] || { cat "$T/err" >&2; fail "'$*' exited $rc, want $want"; }
}
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# Shared by the serve tests (they define PIDS and kill them on exit).
# call METHOD PATH [CURL ARGS...]: prints the status of $URL$PATH; body in $T/body, headers in $T/headers.
call() {
  local method=$1 path=$2; shift 2
  curl -sS -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$method" "$@" "$URL$path"
}
body() { ${PY:-python3} -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$T/body"; }  # EXPR over j
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip" | tail -1; }
wait_for() {  # WHAT CONDITION...: polls CONDITION for up to 10 s, else fails with WHAT
  local what=$1; shift
  for _ in $(seq 200); do "$@" && return 0; sleep 0.05; done
  fail "$what"
}
# start_server LOG ARGS...: dlctl serve on a free loopback port (--port 0, read from the start-up line); sets PID,
# PORT and URL, and waits for /readyz (unless NO_READY_WAIT=1).
start_server() {
  local log=$1; shift
  "$DLCTL" serve "$@" --port 0 >"$log.out" 2>"$log" </dev/null &
  PID=$!
  PIDS+=("$PID")
  PORT=""
  for _ in $(seq 600); do
    PORT=$(sed -n 's#^dlctl: serving .* on http://127\.0\.0\.1:\([0-9][0-9]*\)$#\1#p' "$log")
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || { cat "$log" >&2; fail "dlctl serve exited at start-up"; }
    sleep 0.05
  done
  [ -n "$PORT" ] || { cat "$log" >&2; fail "no start-up line"; }
  URL=http://127.0.0.1:$PORT
  [ "${NO_READY_WAIT:-0}" = 1 ] && return 0
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && return 0
    sleep 0.05
  done
  fail "/readyz never became 200"
}
