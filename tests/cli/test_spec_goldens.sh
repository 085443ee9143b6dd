#!/usr/bin/env bash
# Golden tests for `dlctl validate` errors: every tests/data/bad_*.yaml is a broken spec (or a spec naming broken
# data, bad_*.csv), and bad_*.expected beside it holds `exit: CODE` followed by the exact stderr.
# The specs run from inside tests/data so that the file names in messages are relative and the goldens do not
# depend on where the tree lives.
#   UPDATE_GOLDENS=1 ctest -R spec_goldens     rewrites the goldens from the current binary (then review the diff!)
source "$(dirname "$0")/lib.sh"

MIN_CASES=20
DATA=$SRC/tests/data
cd "$DATA"

shopt -s nullglob
cases=(bad_*.yaml)
[ "${#cases[@]}" -ge "$MIN_CASES" ] ||
  fail "only ${#cases[@]} bad_*.yaml cases in $DATA; want at least $MIN_CASES"

failed=()
for spec in "${cases[@]}"; do
  golden=${spec%.yaml}.expected
  rc=0
  "$DLCTL" validate "$spec" >"$T/out" 2>"$T/err" </dev/null || rc=$?
  { echo "exit: $rc"; cat "$T/err"; } >"$T/got"

  # A broken spec that validates is a broken test, whatever the golden says.
  if [ "$rc" = 0 ]; then
    echo "FAIL: $spec: validated (exit 0); a bad_*.yaml case must be rejected" >&2
    failed+=("$spec")
    continue
  fi
  [ "$rc" = 65 ] || [ "$rc" = 66 ] || echo "note: $spec exits $rc (not 65/66)" >&2

  if [ "${UPDATE_GOLDENS:-0}" = 1 ]; then
    cmp -s "$T/got" "$golden" 2>/dev/null || { cp "$T/got" "$golden"; echo "updated $golden"; }
    continue
  fi
  if [ ! -f "$golden" ]; then
    echo "FAIL: $spec: no golden $golden (run with UPDATE_GOLDENS=1 and review it)" >&2
    failed+=("$spec")
    continue
  fi
  if ! diff -u --label "$golden (expected)" --label "$spec (actual)" "$golden" "$T/got"; then
    failed+=("$spec")
  fi
done

# Goldens whose spec is gone would silently stop being checked.
for golden in bad_*.expected; do
  [ -f "${golden%.expected}.yaml" ] || { echo "FAIL: $golden has no ${golden%.expected}.yaml" >&2; failed+=("$golden"); }
done

# --set: errors in an override name the --set, not a line of the file.
expect_rc 0 "$DLCTL" validate ../../configs/housing.yaml
expect_rc 65 "$DLCTL" validate ../../configs/housing.yaml --set train.optimizer.lr=-1
grep -qF -- 'dlctl: error: --set train.optimizer.lr=-1: ' "$T/err" ||
  { cat "$T/err" >&2; fail "the lr=-1 error does not name '--set train.optimizer.lr=-1'"; }
grep -qF 'train.optimizer.lr must be a finite positive number' "$T/err" ||
  { cat "$T/err" >&2; fail "the lr=-1 error does not say what is wrong"; }
expect_rc 2 "$DLCTL" validate ../../configs/housing.yaml --set nokeyvalue
grep -qF -- '--set nokeyvalue' "$T/err" || { cat "$T/err" >&2; fail "the usage error does not name '--set nokeyvalue'"; }
# The spec itself missing: exit 66.
expect_rc 66 "$DLCTL" validate no_such_spec.yaml
grep -qF 'no_such_spec.yaml' "$T/err" || { cat "$T/err" >&2; fail "the missing-spec error does not name the file"; }

if [ "${#failed[@]}" -gt 0 ]; then
  fail "${#failed[@]} golden check(s) failed (of ${#cases[@]} cases): ${failed[*]}
  (if the new messages are right: UPDATE_GOLDENS=1 ctest -R spec_goldens, then review git diff tests/data)"
fi
echo "ok: ${#cases[@]} golden cases, --set checks"
