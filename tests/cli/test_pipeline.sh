# examples/pipeline/Makefile end to end, as a CI job would run it, against a loopback docker-registry and a
# `dlctl serve` this test starts: a first release is labelled stable; a better candidate passes both gates and
# promotes itself through a rollout under traffic; a worse one is stopped by the gate against production; one
# that passes the gates but answers differently from stable is rolled back by the rollout. The served labels
# and history say so each time. Also: the CI examples use only verbs and flags dlctl has.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HERE=$SRC/tests/cli
export DOCKER_CONFIG=$T/no-docker-config
for tool in docker-registry make jq; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 0; }
done
source "$HERE/registry_lib.sh"

# --- The CI examples name only dlctl verbs and flags that exist ---
for file in "$SRC"/examples/ci/*.yml "$SRC/examples/pipeline/Makefile"; do
  grep -oE '(dlctl|\$\(DLCTL\)|build/dlctl) [a-z]+[^;|&#"]*' "$file" | while read -r _ verb rest; do
    "$DLCTL" "$verb" --help >"$T/help" 2>&1 || fail "$file: no verb '$verb'"
    for flag in $(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$rest"); do
      grep -qE -- "(^|[ ,])$flag([ =,]|$)" "$T/help" || fail "$file: 'dlctl $verb' has no flag $flag"
    done
  done
done
[ "$(grep -c 'dlctl' "$SRC/examples/ci/github-actions.yml")" -ge 5 ] || fail "github-actions.yml: too few dlctl steps"
[ "$(grep -c 'dlctl' "$SRC/examples/ci/gitlab-ci.yml")" -ge 5 ] || fail "gitlab-ci.yml: too few dlctl steps"

start_registry "$T/reg" ""
cd "$T"
mkdir served
pipeline() {  # runs `make release` with the test's folders, registry and server; VAR=VALUE arguments override
  make --no-print-directory -f "$SRC/examples/pipeline/Makefile" release DLCTL="$DLCTL" ROOT="$SRC" \
    RUNS="$T/runs" EXPORT="$T/export" SERVED="$T/served" STATE="$T/state" REGISTRY="$REG" \
    SERVER="${URL:-http://127.0.0.1:1}" \
    ROLLOUT_FLAGS="--step 50 --max 100 --interval 300ms --min-success-rate 99 --min-requests 2 $EXTRA_ROLLOUT" \
    "$@"
}
stable() { json "$T/served/housing/labels.json" "j.get('stable')"; }

# 1. First release: trained briefly, passes its own gate, has no production to compare with: stable directly.
EXTRA_ROLLOUT=""
pipeline TRAIN_FLAGS="--threads 1 --quiet --set train.epochs=3" GATE='mae<=30' >"$T/run1.log" 2>&1 ||
  { cat "$T/run1.log" >&2; fail "first release failed"; }
grep -q "first release" "$T/run1.log" || fail "first release not announced: $(cat "$T/run1.log")"
[ "$(stable)" = 1 ] || fail "first release not stable: $(cat "$T/served/housing/labels.json")"
[ -f "$T/served/housing/1/dlctl.h5" ] && [ -f "$T/served/housing/1/pulled.json" ] || fail "version 1 not pulled"

# 2. The server, with traffic all along.
start_server "$T/serve.log" "$T/served/housing" --poll-ms 100
row=$(sed -n 2p "$SRC/datasets/housing.csv" | cut -d, -f1-13)
cat >"$T/traffic.py" <<'PY'
import http.client, json, os, sys, time
port, stop, row = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
while not os.path.exists(stop):
    c.request("POST", "/v1/models/housing:predict", json.dumps({"instances": [[float(x) for x in row.split(",")]]}))
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
    time.sleep(0.002)
PY
$PY "$T/traffic.py" "$PORT" "$T/stop" "$row" &
PIDS+=($!)

# 3. A much better candidate: passes both gates, rolled out under traffic, promotes itself.
pipeline TRAIN_FLAGS="--threads 1 --quiet --set train.optimizer.lr=0.01 --set train.epochs=300" >"$T/run2.log" 2>&1 ||
  { cat "$T/run2.log" >&2; fail "second release failed"; }
grep -q -- "--against .*served/housing@stable" "$T/run2.log" || fail "no gate against production: $(cat "$T/run2.log")"
grep -q "promoted version 2 to stable (was 1)" "$T/run2.log" || fail "not promoted: $(cat "$T/run2.log")"
[ "$(stable)" = 2 ] || fail "after the rollout: $(cat "$T/served/housing/labels.json")"

# 4. A worse candidate: the gate against production stops it (exit 3 inside make); nothing reaches the server.
rc=0
pipeline TRAIN_FLAGS="--threads 1 --quiet --set train.epochs=2" >"$T/run3.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a worse candidate went through: $(cat "$T/run3.log")"
grep -q "gate failed: mae<=baseline\*1.02" "$T/run3.log" || fail "gate failure not explained: $(cat "$T/run3.log")"
[ ! -e "$T/served/housing/3" ] || fail "a gated candidate was pulled into the served directory"
[ "$(stable)" = 2 ] || fail "a gated candidate moved stable"

# 5. Passes the gates but answers differently from stable: the rollout rolls it back by itself.
rc=0
EXTRA_ROLLOUT="--max-divergence 1e-9"
pipeline TRAIN_FLAGS="--threads 1 --quiet --set train.optimizer.lr=0.01 --set train.epochs=300 --seed 9" \
  AGAINST='mae<=baseline*10' >"$T/run4.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a diverging canary was promoted: $(cat "$T/run4.log")"
grep -q "rolled back: at 50%: divergence from stable" "$T/run4.log" || fail "rollback not explained: $(cat "$T/run4.log")"
[ "$(stable)" = 2 ] || fail "a rolled-back canary moved stable: $(cat "$T/served/housing/labels.json")"
[ "$(json "$T/served/housing/labels.json" "'canary' in j")" = False ] || fail "the canary label stayed"
touch "$T/stop"

expect_rc 0 "$DLCTL" history "$T/served/housing" --json
$PY - "$T/out" <<'PY' || fail "history: $(cat "$T/out")"
import json, sys
h = json.load(open(sys.argv[1]))
moves = [(e["action"], e["label"], e["from"], e["to"]) for e in h if e["action"] in ("label", "promote", "rollback")]
assert moves == [("label", "stable", None, 1), ("promote", "stable", 1, 2), ("rollback", "canary", 4, None)], moves
PY
echo "pipeline: ok"
