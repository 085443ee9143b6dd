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
