# Release management: label / promote / rollback / history (also from 4 processes at once), NAME@LABEL and
# exported version directories in every verb, a bad labels.json never moving traffic, and `dlctl rollout`
# against a running `dlctl serve`: a healthy canary promotes itself, a diverging one (split or shadow) rolls back.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
PY=python3
RUNS=$T/runs EXP=$T/export
quick=(--runs "$RUNS" --threads 1 --quiet --set train.epochs=3)
PIDS=()
stop_all() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; }
trap stop_all EXIT

for seed in 1 2 3; do expect_rc 0 "$DLCTL" train configs/housing.yaml "${quick[@]}" --seed $seed; done

# --- label / promote / rollback / history on the runs directory (NAME means runs/NAME) ---
expect_rc 0 "$DLCTL" label housing stable=1 --runs "$RUNS" --reason "first release"
grep -q "stable: - -> 1" "$T/out" || fail "label output: $(cat "$T/out")"
expect_rc 0 "$DLCTL" label "$RUNS/housing" canary=latest --runs "$RUNS"
[ "$(json "$RUNS/housing/labels.json" "j")" = "{'canary': 3, 'stable': 1}" ] || fail "labels.json: $(cat "$RUNS/housing/labels.json")"
# A typo of an existing label, a version that does not exist, a corrupt version: refused, nothing written.
cp "$RUNS/housing/labels.json" "$T/labels.before"
expect_rc 2 "$DLCTL" label housing stabel=2 --runs "$RUNS"
grep -q "did you mean 'stable'" "$T/err" || fail "typo not caught: $(cat "$T/err")"
expect_rc 66 "$DLCTL" label housing stable=99 --runs "$RUNS"
cp -r "$RUNS/housing/2" "$RUNS/housing/4" && printf 'garbage' >"$RUNS/housing/4/model.h5"
expect_rc 65 "$DLCTL" label housing stable=4 --runs "$RUNS"
grep -q "model.h5" "$T/err" || fail "corrupt version not named: $(cat "$T/err")"
rm -rf "$RUNS/housing/4"
cmp -s "$T/labels.before" "$RUNS/housing/labels.json" || fail "a refused label change wrote labels.json"
[ "$(wc -l <"$RUNS/housing/history.jsonl")" = 2 ] || fail "a refused change reached history.jsonl"
# NAME@LABEL resolves in eval, export and predict.
expect_rc 0 "$DLCTL" eval housing@stable --runs "$RUNS" --json
[ "$(json "$T/out" "j['version']")" = 1 ] || fail "housing@stable evaluated $(cat "$T/out")"
expect_rc 66 "$DLCTL" eval housing@stabel --runs "$RUNS"
grep -q "did you mean 'stable'" "$T/err" || fail "unknown label not explained: $(cat "$T/err")"
expect_rc 0 "$DLCTL" promote housing --runs "$RUNS" --reason "beats 1"
[ "$(json "$RUNS/housing/labels.json" "j")" = "{'stable': 3}" ] || fail "after promote: $(cat "$RUNS/housing/labels.json")"
expect_rc 0 "$DLCTL" rollback housing stable --runs "$RUNS" --reason "worse in production"
[ "$(json "$RUNS/housing/labels.json" "j['stable']")" = 1 ] || fail "after rollback: $(cat "$RUNS/housing/labels.json")"
expect_rc 2 "$DLCTL" rollback housing stable --runs "$RUNS"  # nothing before version 1
expect_rc 0 "$DLCTL" history housing --runs "$RUNS" --json
$PY - "$T/out" "$RUNS/housing" <<'PY' || fail "history: $(cat "$T/out")"
import hashlib, json, sys
h = json.load(open(sys.argv[1]))
got = [(e["action"], e["label"], e["from"], e["to"]) for e in h]
want = [("label", "stable", None, 1), ("label", "canary", None, 3), ("promote", "stable", 1, 3),
        ("remove", "canary", 3, None), ("rollback", "stable", 3, 1)]
assert got == want, got
assert h[0]["reason"] == "first release" and h[4]["reason"] == "worse in production", h
for e in h:
    assert e["time"].endswith("Z") and e["user"] and e["host"], e
    for v, digest in e["digests"].items():
        real = hashlib.sha256(open(f"{sys.argv[2]}/{v}/model.h5", "rb").read()).hexdigest()
        assert digest == "sha256:" + real, (v, digest)
assert set(h[2]["digests"]) == {"1", "3"}, h[2]
PY
expect_rc 0 "$DLCTL" history housing --runs "$RUNS"
grep -q "rollback .* stable .* 3 .* 1  worse in production" "$T/out" || fail "history table: $(cat "$T/out")"

# --- Four processes changing labels at once lose no entry ---
for p in 1 2 3 4; do
  (for i in $(seq 8); do "$DLCTL" label housing "p$p=$(( (i % 3) + 1 ))" --runs "$RUNS" --new-label >/dev/null || exit 1; done) &
  PIDS+=($!)
  writers+=($!)
done
for pid in "${writers[@]}"; do wait "$pid" || fail "a concurrent label change failed"; done
$PY - "$RUNS/housing" <<'PY' || fail "concurrent label changes lost entries"
import json, sys
lines = open(sys.argv[1] + "/history.jsonl").read().splitlines()
entries = [json.loads(l) for l in lines]
for p in range(1, 5):
    mine = [(e["from"], e["to"]) for e in entries if e["label"] == f"p{p}"]
    assert [t for f, t in mine] == [(i % 3) + 1 for i in range(1, 9)], (p, mine)
    assert all(mine[i][0] == mine[i - 1][1] for i in range(1, 8)), (p, mine)  # each saw the one before
labels = json.load(open(sys.argv[1] + "/labels.json"))
assert all(labels[f"p{p}"] == (8 % 3) + 1 for p in range(1, 5)), labels
PY

# --- An exported version is a model like any other (it was read as a checkpoint: exit 65) ---
for v in 1 2 3; do expect_rc 0 "$DLCTL" export "housing@$v" --runs "$RUNS" --out "$EXP" --format native,keras; done
expect_rc 0 "$DLCTL" eval "$EXP/housing/3" --runs "$RUNS" --json
[ "$(json "$T/out" "j['version']")" = 3 ] || fail "eval of an export: $(cat "$T/out")"
expect_rc 0 "$DLCTL" eval housing@3 --runs "$RUNS" --json
cp "$T/out" "$T/run3.json"
expect_rc 0 "$DLCTL" eval "$EXP/housing/3" --runs "$RUNS" --json
[ "$(json "$T/out" "j['metrics']")" = "$(json "$T/run3.json" "j['metrics']")" ] || fail "export and run evaluate differently"
expect_rc 0 "$DLCTL" label "$EXP/housing" stable=1
expect_rc 0 "$DLCTL" predict "$EXP/housing@stable" --input datasets/housing.csv --output "$T/pred.csv"
expect_rc 0 "$DLCTL" predict housing@1 --runs "$RUNS" --input datasets/housing.csv --output "$T/pred1.csv"
cmp -s "$T/pred.csv" "$T/pred1.csv" || fail "export/housing@stable predicts differently from housing@1"

# --- A bad labels.json never moves traffic: the last good labels stay, the error is visible ---
row=$(sed -n 2p datasets/housing.csv | cut -d, -f1-13)
last_error=""
start_server "$T/serve.log" "$EXP/housing" --poll-ms 50
predict_version() { call POST /v1/models/housing:predict -d "{\"instances\": [[$row]]}" >/dev/null; header X-Model-Version; }
[ "$(predict_version)" = 1 ] || fail "stable=1 not served"
# (An empty file is one being rewritten: `{}` means no labels.)
for bad in '{"stable": 99}' '{"stabel": 1}' '{"stable": 1, "canary": 2, "canary_precent": 10}' '{"stable": "x"}' '{"stable": 1,' ''; do
  printf '%s' "$bad" >"$EXP/housing/labels.json"
  refused() { call GET /v1/models/housing >/dev/null; [ "$(body "j.get('labels_error', '') not in ('', '$last_error')")" = True ]; }
  wait_for "$bad: not refused" refused
  [ "$(body "j['labels']")" = "{'stable': '1'}" ] || fail "$bad: labels moved: $(cat "$T/body")"
  for _ in 1 2 3; do [ "$(predict_version)" = 1 ] || fail "$bad moved traffic to $(header X-Model-Version)"; done
  call GET /v1/models/housing >/dev/null
  last_error=$(body "j['labels_error'].replace(\"'\", '')")
  call GET /metrics >/dev/null
  grep -q '^dlctl_serve_labels_valid{model="housing"} 0$' "$T/body" || fail "$bad: /metrics does not show it"
done
grep -q 'labels.json: label "stable" names version 99, which is not loaded' "$T/serve.log" || fail "not logged: $(cat "$T/serve.log")"
grep -q 'did you mean "stable"' "$T/serve.log" || fail "typo not logged: $(cat "$T/serve.log")"
printf '{"stable": 1}' >"$EXP/housing/labels.json"
taken() { call GET /v1/models/housing >/dev/null; [ "$(body "'labels_error' in j")" = False ]; }
wait_for "a fixed labels.json not taken" taken
call GET /metrics >/dev/null
grep -q '^dlctl_serve_labels_valid{model="housing"} 1$' "$T/body" || fail "/metrics: labels still invalid"
grep -q '^dlctl_serve_labels_refusals_total{model="housing"} 6$' "$T/body" || fail "refusals: $(grep refusals "$T/body")"
# A server started on a bad labels file is not ready (load balancers send it nothing) until the file is fixed.
printf '{"stable": 99}' >"$EXP/housing/labels.json"
OLD_URL=$URL
NO_READY_WAIT=1 start_server "$T/serve2.log" "$EXP/housing" --poll-ms 50
sleep 0.3
[ "$(call GET /readyz)" = 503 ] || fail "ready on a refused labels file: $(cat "$T/body")"
printf '{"stable": 1}' >"$EXP/housing/labels.json"
ready() { [ "$(call GET /readyz)" = 200 ]; }
wait_for "not ready once labels.json was fixed" ready
kill "$PID"
URL=$OLD_URL
PORT=${URL##*:}
wait_for "the first server did not take the fixed labels.json" taken

# --- The admin API is for loopback clients, or those with the token ---
[ "$(call GET /admin/models/housing)" = 200 ] || fail "admin API on loopback: $(cat "$T/body")"
[ "$(body "j['labels'], j['labels_error']")" = "{'stable': 1} " ] || fail "admin state: $(cat "$T/body")"
[ "$(call GET /admin/models/nosuch)" = 404 ] || fail "admin API on an unknown model"
# With --admin-token, every client needs it (loopback ones too).
OLD_URL=$URL
start_server "$T/serve3.log" "$EXP/housing" --admin-token s3cret
[ "$(call GET /admin/models/housing)" = 401 ] || fail "admin API without the token: $(cat "$T/body")"
[ "$(call GET /admin/models/housing -H 'Authorization: Bearer wrong')" = 401 ] || fail "admin API with a wrong token"
[ "$(call GET /admin/models/housing -H 'Authorization: Bearer s3cret')" = 200 ] || fail "admin API with the token"
expect_rc 77 "$DLCTL" rollout "$EXP/housing" --status --server "$URL"
DLCTL_ADMIN_TOKEN=s3cret expect_rc 0 "$DLCTL" rollout "$EXP/housing" --status --server "$URL"
grep -q "labels: {\"stable\":1}" "$T/out" || fail "rollout --status: $(cat "$T/out")"
! grep -q s3cret "$T/serve3.log" || fail "the token reached the log"
kill "$PID"
URL=$OLD_URL
PORT=${URL##*:}

# --- rollout: traffic all along, from a client that records who answered ---
cat >"$T/traffic.py" <<'PY'
import http.client, json, os, sys, time
port, stop, row = int(sys.argv[1]), sys.argv[2], sys.argv[3]
seen = {}
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
while not os.path.exists(stop):
    c.request("POST", "/v1/models/housing:predict", json.dumps({"instances": [[float(x) for x in row.split(",")]]}))
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
    v = r.getheader("X-Model-Version"); seen[v] = seen.get(v, 0) + 1
    time.sleep(0.002)
print(json.dumps(seen))
PY
traffic() {  # starts the client; `end_traffic FILE` stops it and writes what it saw
  rm -f "$T/stop"
  $PY "$T/traffic.py" "$PORT" "$T/stop" "$row" >"$T/seen.json" &
  TRAFFIC=$!
  PIDS+=("$TRAFFIC")
}
end_traffic() { touch "$T/stop"; wait "$TRAFFIC" || fail "the traffic client failed"; cp "$T/seen.json" "$1"; }

rollout=(--server "$URL" --interval 300ms --step 25 --max 50)
# Healthy: version 2 goes 25% -> 50% -> stable.
traffic
expect_rc 0 "$DLCTL" rollout "$EXP/housing" --canary 2 "${rollout[@]}" --min-success-rate 99 --max-p99-ms 5000 --min-requests 3
end_traffic "$T/seen_healthy.json"
grep -q "promoted version 2 to stable (was 1)" "$T/out" || fail "rollout output: $(cat "$T/out")"
[ "$(json "$EXP/housing/labels.json" "j")" = "{'stable': 2}" ] || fail "after a healthy rollout: $(cat "$EXP/housing/labels.json")"
[ "$(json "$T/seen_healthy.json" "sorted(j)")" = "['1', '2']" ] || fail "the canary got no traffic: $(cat "$T/seen_healthy.json")"
now_stable() { [ "$(predict_version)" = 2 ]; }
wait_for "traffic not on the promoted version" now_stable

# Diverging: version 3's answers are not stable's; it is rolled back by itself (exit 3) and stable keeps 2.
traffic
expect_rc 3 "$DLCTL" rollout "$EXP/housing" --canary 3 "${rollout[@]}" --max-divergence 1e-9 --min-requests 3
end_traffic "$T/seen_diverging.json"
grep -q "rolled back: at 25%: divergence from stable" "$T/err" || fail "rollback not explained: $(cat "$T/err")"
[ "$(json "$EXP/housing/labels.json" "j")" = "{'stable': 2}" ] || fail "after a rollback: $(cat "$EXP/housing/labels.json")"
for _ in 1 2 3 4; do [ "$(predict_version)" = 2 ] || fail "traffic still reaches the rolled-back canary"; done

# Shadow: the canary only gets copies; nobody is ever answered by it, and its divergence still rolls it back.
traffic
expect_rc 3 "$DLCTL" rollout "$EXP/housing" --canary 3 --shadow "${rollout[@]}" --max-divergence 1e-9 --min-requests 3
end_traffic "$T/seen_shadow.json"
[ "$(json "$T/seen_shadow.json" "sorted(j)")" = "['2']" ] || fail "a shadow canary answered: $(cat "$T/seen_shadow.json")"
call GET /metrics >/dev/null
grep -Eq '^dlctl_serve_requests_total\{model="housing",version="3",method="shadow",code="200"\} [1-9]' "$T/body" ||
  fail "shadow requests not in /metrics"
grep -Eq '^dlctl_serve_divergence_rows\{model="housing",version="3"\} [1-9]' "$T/body" || fail "divergence not in /metrics"
# Interrupted (SIGINT): the canary does not stay behind at its share; exit 130.
"$DLCTL" rollout "$EXP/housing" --canary 3 --server "$URL" --interval 60s --step 25 >"$T/int.out" 2>"$T/int.err" &
ROLLOUT=$!
PIDS+=("$ROLLOUT")
has_canary() { [ "$(json "$EXP/housing/labels.json" "j.get('canary_percent') == 25")" = True ]; }
wait_for "rollout never set the canary's share" has_canary
kill -INT "$ROLLOUT"
rc=0; wait "$ROLLOUT" || rc=$?
[ "$rc" = 130 ] || fail "interrupted rollout exited $rc: $(cat "$T/int.err")"
[ "$(json "$EXP/housing/labels.json" "j")" = "{'stable': 2}" ] || fail "after an interrupted rollout: $(cat "$EXP/housing/labels.json")"
grep -q "interrupted by a signal" "$T/int.err" || fail "interruption not explained: $(cat "$T/int.err")"
expect_rc 0 "$DLCTL" rollout "$EXP/housing" --status --server "$URL" --json
[ "$(json "$T/out" "j['versions']['3']['requests'] > 0 and j['labels'] == {'stable': 2}")" = True ] ||
  fail "rollout --status: $(cat "$T/out")"

# The history tells the whole story.
expect_rc 0 "$DLCTL" history "$EXP/housing" --json
$PY - "$T/out" <<'PY' || fail "served history: $(cat "$T/out")"
import json, sys
h = json.load(open(sys.argv[1]))
actions = [(e["action"], e["label"], e["from"], e["to"]) for e in h]
assert actions[0] == ("label", "stable", None, 1), actions
promote = [e for e in h if e["action"] == "promote"]
assert len(promote) == 1 and (promote[0]["from"], promote[0]["to"]) == (1, 2), promote
assert promote[0]["reason"].startswith("rollout: healthy"), promote
rollbacks = [e for e in h if e["action"] == "rollback" and e["label"] == "canary"]
assert len(rollbacks) == 3 and all(e["from"] == 3 and e["to"] is None for e in rollbacks), rollbacks
assert all("divergence" in e["reason"] for e in rollbacks[:2]), rollbacks
assert "interrupted" in rollbacks[2]["reason"], rollbacks
assert rollbacks[1]["details"]["measured"]["divergence"] > 1e-9, rollbacks[1]
steps = [e["details"]["canary_percent"]["to"] for e in h if e["action"] == "canary_percent"]
assert steps[:2] == [25, 50], steps
PY
echo "release: ok"
