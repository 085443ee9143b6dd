# dlctl serve with real clients (curl, python3's http.client): TF Serving's REST API and its error shape, labels,
# canary split, hot reload under concurrent load, dynamic batching, /metrics, a port in use, and SIGTERM draining.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
PY=python3
RUNS=$T/runs EXP=$T/export
quick=(--runs "$RUNS" --threads 1 --quiet --set train.epochs=3)

# Every server and background client, killed however the test ends.
PIDS=()
stop_all() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; }
trap stop_all EXIT

post() { call POST "$1" -H 'Content-Type: application/json' --data-binary "$2"; }
expect_status() {  # WANT STATUS WHAT
  [ "$2" = "$1" ] || fail "$3: HTTP $2, want $1: $(head -c 600 "$T/body")"
}
# An error reply is TF Serving's: exactly {"error": "<message>"}.
expect_error() {  # WANT STATUS WHAT
  expect_status "$1" "$2" "$3"
  [ "$(body "list(j) == ['error'] and isinstance(j['error'], str) and len(j['error']) > 0")" = True ] ||
    fail "$3: not an {\"error\"} reply: $(cat "$T/body")"
}

# --- Models: housing three times (version 3 is exported later, under load), iris once ---
expect_rc 0 "$DLCTL" train configs/housing.yaml "${quick[@]}"
expect_rc 0 "$DLCTL" train configs/housing.yaml "${quick[@]}" --seed 2
expect_rc 0 "$DLCTL" train configs/housing.yaml "${quick[@]}" --seed 3
expect_rc 0 "$DLCTL" train configs/iris.yaml "${quick[@]}"
for v in 1 2; do expect_rc 0 "$DLCTL" export "housing@$v" --runs "$RUNS" --out "$EXP" --format native; done
expect_rc 0 "$DLCTL" export iris@1 --runs "$RUNS" --out "$EXP" --format native
echo '{"stable": 1, "canary": 2}' >"$EXP/housing/labels.json"

# --- Usage errors before any socket ---
expect_rc 66 "$DLCTL" serve "$T/nowhere"
expect_rc 2 "$DLCTL" serve "$EXP/housing/1"
grep -q "base directory" "$T/err" || fail "a version directory given to serve was not explained: $(cat "$T/err")"
expect_rc 2 "$DLCTL" serve "$EXP/housing" --label stable
expect_rc 2 "$DLCTL" serve "$EXP/housing" --label nosuch:stable=1

start_server "$T/serve.log" "$EXP/housing" "$EXP/iris" --label iris:stable=1 --canary-percent 20 \
  --max-batch 64 --batch-timeout-us 2000 --max-body-mb 1 --poll-ms 100 --threads 32
grep -q "serving housing versions \[1, 2\], iris versions \[1\] on $URL" "$T/serve.log" ||
  fail "start-up line: $(cat "$T/serve.log")"

# --- A port in use is exit 69 ---
expect_rc 69 "$DLCTL" serve "$EXP/housing" --port "$PORT"
grep -q "already in use" "$T/err" || fail "port in use not explained: $(cat "$T/err")"

# --- Health, readiness, model status and metadata ---
expect_status 200 "$(call GET /healthz)" healthz
expect_status 200 "$(call GET /readyz)" readyz
[ "$(body "j['ready'], j['models']")" = "True {'housing': [1, 2], 'iris': [1]}" ] || fail "readyz: $(cat "$T/body")"
expect_status 200 "$(call GET /v1/models/housing)" "model status"
[ "$(body "[(s['version'], s['state'], s['status']['error_code'], s['status']['error_message']) for s in j['model_version_status']]")" = \
  "[('2', 'AVAILABLE', 'OK', ''), ('1', 'AVAILABLE', 'OK', '')]" ] || fail "model status: $(cat "$T/body")"
expect_status 200 "$(call GET /v1/models/housing/versions/1)" "version status"
[ "$(body "[s['version'] for s in j['model_version_status']]")" = "['1']" ] || fail "version status: $(cat "$T/body")"
expect_status 200 "$(call GET /v1/models/housing/labels/canary)" "label status"
[ "$(body "[s['version'] for s in j['model_version_status']]")" = "['2']" ] || fail "label status: $(cat "$T/body")"
# Without a version, the one unlabelled requests go to (canary aside): `stable` here.
expect_status 200 "$(call GET /v1/models/housing/metadata)" metadata
[ "$(body "j['model_spec']['name'], j['model_spec']['version']")" = "housing 1" ] || fail "metadata model_spec: $(cat "$T/body")"
sig="j['metadata']['signature_def']['signature_def']['serving_default']"
[ "$(body "$sig['inputs']['input']['dtype'], [d['size'] for d in $sig['inputs']['input']['tensor_shape']['dim']]")" = \
  "DT_FLOAT ['-1', '13']" ] || fail "metadata input: $(cat "$T/body")"
[ "$(body "$sig['outputs']['prediction']['dtype'], $sig['method_name']")" = "DT_FLOAT tensorflow/serving/predict" ] ||
  fail "metadata output: $(cat "$T/body")"
[ "$(body "j['metadata']['signature']['inputs'][0]['features'][:2], j['metadata']['signature']['version']")" = "['CRIM', 'ZN'] 1" ] ||
  fail "metadata signature: $(cat "$T/body")"
expect_status 200 "$(call GET /v1/models/housing/versions/1/metadata)" "version metadata"
[ "$(body "j['model_spec']['version']")" = 1 ] || fail "versions/1/metadata: $(cat "$T/body")"
expect_status 200 "$(call GET /v1/models/housing/labels/stable/metadata)" "label metadata"
[ "$(body "j['model_spec']['version']")" = 1 ] || fail "labels/stable/metadata: $(cat "$T/body")"
expect_status 200 "$(call GET /v1/models/iris/metadata)" "iris metadata"
[ "$(body "$sig['outputs']['label']['dtype'], j['metadata']['signature']['labels']")" = \
  "DT_STRING ['setosa', 'versicolor', 'virginica']" ] || fail "iris metadata: $(cat "$T/body")"

# --- Predictions: every request format gives the same numbers, and the same as `dlctl predict` ---
row=$(sed -n 2p datasets/housing.csv | cut -d, -f1-13)
obj=$($PY -c "import sys; h=sys.argv[1].split(','); v=sys.argv[2].split(','); print('{' + ', '.join(f'\"{k}\": {x}' for k, x in zip(h, v)) + '}')" \
  "$(head -1 datasets/housing.csv)" "$row")
cols=$($PY -c "import sys; h=sys.argv[1].split(','); v=sys.argv[2].split(','); print('{' + ', '.join(f'\"{k}\": [{x}, {x}]' for k, x in zip(h, v)) + '}')" \
  "$(head -1 datasets/housing.csv)" "$row")
expect_status 200 "$(post /v1/models/housing/versions/2:predict "{\"instances\": [[$row]]}")" "rows predict"
[ "$(header X-Model-Version)" = 2 ] || fail "X-Model-Version: $(cat "$T/headers")"
served=$(body "j['predictions'][0][0]")
[ "$(body "len(j['predictions']), len(j['predictions'][0])")" = "1 1" ] || fail "rows reply: $(cat "$T/body")"
for request in "{\"instances\": [$obj]}" "{\"instances\": [{\"input\": [$row]}], \"signature_name\": \"serving_default\"}"; do
  expect_status 200 "$(post /v1/models/housing/versions/2:predict "$request")" "rows predict: $request"
  [ "$(body "j['predictions'][0][0]")" = "$served" ] || fail "$request gave $(cat "$T/body"), want $served"
done
for request in "{\"inputs\": [[$row], [$row]]}" "{\"inputs\": $cols}" "{\"inputs\": {\"input\": [[$row], [$row]]}}"; do
  expect_status 200 "$(post /v1/models/housing/versions/2:predict "$request")" "columnar predict: $request"
  [ "$(body "j['outputs']")" = "[[$served], [$served]]" ] || fail "$request gave $(cat "$T/body"), want two rows of $served"
done
{ head -1 datasets/housing.csv; sed -n 2p datasets/housing.csv; } >"$T/row.csv"
expect_rc 0 "$DLCTL" predict "$EXP/housing/2" --input "$T/row.csv" --format jsonl
[ "$(json "$T/out" "j['prediction']")" = "$served" ] || fail "served $served, dlctl predict $(cat "$T/out")"

iris_row=$(sed -n 2p datasets/iris.csv | cut -d, -f1-4)
expect_status 200 "$(post /v1/models/iris:predict "{\"instances\": [[$iris_row], {\"sepal_length\": 5.1, \"sepal_width\": 3.5, \"petal_length\": 1.4, \"petal_width\": 0.2}]}")" "iris rows"
[ "$(header X-Model-Version)" = 1 ] || fail "iris X-Model-Version"
[ "$(body "sorted(j['predictions'][0]), j['predictions'][0]['label'], len(j['predictions'][0]['probabilities']), j['predictions'][0] == j['predictions'][1]")" = \
  "['label', 'probabilities'] setosa 3 True" ] || fail "iris rows reply: $(cat "$T/body")"
iris_probs=$(body "j['predictions'][0]['probabilities']")
{ head -1 datasets/iris.csv; sed -n 2p datasets/iris.csv; } >"$T/iris.csv"
expect_rc 0 "$DLCTL" predict "$EXP/iris/1" --input "$T/iris.csv" --format jsonl
[ "$(json "$T/out" "j['probabilities'], j['prediction']")" = "$iris_probs setosa" ] ||
  fail "served $iris_probs, dlctl predict $(cat "$T/out")"
expect_status 200 "$(post /v1/models/iris/labels/stable:predict "{\"inputs\": [[$iris_row], [$iris_row]]}")" "iris columnar"
[ "$(body "sorted(j['outputs']), j['outputs']['label'], j['outputs']['probabilities'][0]")" = \
  "['label', 'probabilities'] ['setosa', 'setosa'] $iris_probs" ] || fail "iris columnar reply: $(cat "$T/body")"

# --- Errors: status and TF Serving's {"error": ...} ---
good="{\"instances\": [[$row]]}"
expect_error 400 "$(post /v1/models/housing:predict '{"instances": [[1, 2,')" "bad JSON"
expect_error 400 "$(post /v1/models/housing:predict '[1, 2]')" "not an object"
expect_error 400 "$(post /v1/models/housing:predict '{"instances": [[1, 2, 3]]}')" "wrong shape"
grep -q "13" "$T/body" || fail "wrong shape error does not say what the model takes: $(cat "$T/body")"
expect_error 400 "$(post /v1/models/housing:predict "{\"instances\": [[\"a\", ${row#*,}]]}")" "non-number"
expect_error 400 "$(post /v1/models/housing:predict '{"instances": [{"CRIM": 1}]}')" "missing feature"
expect_error 400 "$(post /v1/models/housing:predict '{"rows": []}')" "neither instances nor inputs"
expect_error 400 "$(post /v1/models/housing:predict '{"instances": []}')" "no instances"
expect_error 400 "$(post /v1/models/housing:predict "{\"instances\": [[$row]], \"signature_name\": \"nope\"}")" "unknown signature"
expect_error 404 "$(post /v1/models/nosuch:predict "$good")" "unknown model"
expect_error 404 "$(post /v1/models/housing/versions/7:predict "$good")" "unknown version"
expect_error 400 "$(post /v1/models/housing/versions/x:predict "$good")" "non-numeric version"
expect_error 404 "$(post /v1/models/housing/labels/nope:predict "$good")" "unknown label"
expect_error 404 "$(post /v1/models/housing/labels/old:predict "$good")" "a label that does not exist"
expect_error 404 "$(call GET /v1/models/nosuch)" "unknown model status"
expect_error 404 "$(call GET /v1/models/housing/versions/7/metadata)" "unknown version metadata"
expect_error 405 "$(call GET /v1/models/housing:predict)" "GET on :predict"
[ "$(header Allow)" = POST ] || fail "405 without Allow: POST"
expect_error 405 "$(post /v1/models/housing/metadata "$good")" "POST on metadata"
expect_error 405 "$(call DELETE /v1/models/housing)" "DELETE on a model"
expect_error 404 "$(post /v1/models/housing:explain "$good")" "unknown verb"
expect_error 404 "$(call GET /v2/models/housing)" "unknown path"
expect_error 404 "$(call GET /v1/models/housing/extra/parts/here)" "bad model path"
expect_error 404 "$(call GET "/v1/models/..%2F..%2Fetc%2Fpasswd")" "path traversal"
head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' ' ' >"$T/big.json"
expect_error 413 "$(call POST /v1/models/housing:predict -H 'Content-Type: application/json' --data-binary @"$T/big.json")" "body over --max-body-mb"

# --- Labels and canary: unlabelled requests, 20% to canary (2), the rest to stable (1) ---
$PY - "$PORT" >"$T/split.json" <<'PY'
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
body = json.dumps({"instances": [[0.1] * 13]})
def version(headers={}):
    conn.request("POST", "/v1/models/housing:predict", body, {"Content-Type": "application/json", **headers})
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
    return r.getheader("X-Model-Version")
plain = [version() for _ in range(1000)]
ids = [version({"X-Request-Id": f"req-{i}"}) for i in range(1000)]
same = all(len({version({"X-Request-Id": f"user-{k}"}) for _ in range(20)}) == 1 for k in range(20))
print(json.dumps({"plain": plain.count("2"), "plain_other": len([v for v in plain if v not in "12"]),
                  "ids": ids.count("2"), "same_id_same_version": same}))
PY
[ "$(json "$T/split.json" "170 <= j['plain'] <= 230 and 170 <= j['ids'] <= 230 and j['plain_other'] == 0")" = True ] ||
  fail "canary split outside 20±3% over 1000 requests: $(cat "$T/split.json")"
[ "$(json "$T/split.json" "j['same_id_same_version']")" = True ] || fail "one X-Request-Id went to different versions"
expect_status 200 "$(post /v1/models/housing/labels/stable:predict "$good")" "stable label"
[ "$(header X-Model-Version)" = 1 ] || fail "labels/stable answered by $(header X-Model-Version)"
expect_status 200 "$(post /v1/models/housing/labels/canary:predict "$good")" "canary label"
[ "$(header X-Model-Version)" = 2 ] || fail "labels/canary answered by $(header X-Model-Version)"

# labels.json changes are picked up: without a canary label every unlabelled request goes to stable...
echo '{"stable": 1}' >"$EXP/housing/labels.json"
no_canary() { [ "$(call GET /v1/models/housing/labels/canary)" = 404 ]; }
wait_for "labels.json change not picked up" no_canary
for _ in $(seq 20); do
  expect_status 200 "$(post /v1/models/housing:predict "$good")" "predict, stable only"
  [ "$(header X-Model-Version)" = 1 ] || fail "without a canary label an unlabelled request went to $(header X-Model-Version)"
done
# ... and without labels, to the newest version.
echo '{}' >"$EXP/housing/labels.json"
no_stable() { [ "$(call GET /v1/models/housing/labels/stable)" = 404 ]; }
wait_for "labels.json emptied not picked up" no_stable
expect_status 200 "$(post /v1/models/housing:predict "$good")" "predict, no labels"
[ "$(header X-Model-Version)" = 2 ] || fail "without labels an unlabelled request went to $(header X-Model-Version), not the newest"

# --- Hot reload under load: 8 clients predict all along while version 3 is exported and a broken 9 appears ---
# Each client sends one or three of 16 distinct rows; every answer for a (version, row) must agree with the first
# one seen, so rows mixed up between merged requests would show.
cat >"$T/load.py" <<'PY'
import http.client, json, os, random, sys, threading
port, stop_file = int(sys.argv[1]), sys.argv[2]
rows = [[round(0.1 * ((i * 7 + j * 3) % 17), 2) for j in range(13)] for i in range(16)]
lock = threading.Lock()
seen = {}
stats = {"ok": 0, "failed": 0, "mismatched": 0, "versions": {}, "errors": []}
def client(k):
    rnd = random.Random(k)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not os.path.exists(stop_file):
        picked = [rnd.randrange(16) for _ in range(rnd.choice([1, 1, 1, 3]))]
        try:
            conn.request("POST", "/v1/models/housing:predict", json.dumps({"instances": [rows[i] for i in picked]}),
                         {"Content-Type": "application/json"})
            r = conn.getresponse(); data = r.read()
            with lock:
                if r.status != 200:
                    stats["failed"] += 1; stats["errors"].append(f"{r.status} {data[:200]!r}"); continue
                stats["ok"] += 1
                v = r.getheader("X-Model-Version")
                stats["versions"][v] = stats["versions"].get(v, 0) + 1
                for i, p in zip(picked, json.loads(data)["predictions"]):
                    ref = seen.setdefault((v, i), p[0])
                    if abs(ref - p[0]) > 1e-5 * max(1.0, abs(ref)): stats["mismatched"] += 1
        except Exception as e:
            with lock:
                stats["failed"] += 1; stats["errors"].append(repr(e))
            conn.close(); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
stats["errors"] = stats["errors"][:5]
print(json.dumps(stats))
PY
rm -f "$T/stop"
$PY "$T/load.py" "$PORT" "$T/stop" >"$T/load.json" &
load_pid=$!
PIDS+=("$load_pid")
sleep 0.5
expect_rc 0 "$DLCTL" export housing@3 --runs "$RUNS" --out "$EXP" --format native
serves_3() { post /v1/models/housing:predict "$good" >/dev/null && [ "$(header X-Model-Version)" = 3 ]; }
wait_for "version 3 never became the default" serves_3
# Appears whole, as `dlctl export` publishes a version (a half-made folder would be refused once per state).
mkdir "$EXP/housing/.tmp-9" && echo "not an HDF5 file" >"$EXP/housing/.tmp-9/dlctl.h5" && mv "$EXP/housing/.tmp-9" "$EXP/housing/9"
refused_9() { grep -q "housing: version 9 refused" "$T/serve.log"; }
wait_for "the broken version 9 was not refused" refused_9
sleep 0.5
touch "$T/stop"
wait "$load_pid"
[ "$(json "$T/load.json" "j['failed'], j['mismatched']")" = "0 0" ] || fail "requests failed during the reload: $(cat "$T/load.json")"
[ "$(json "$T/load.json" "j['ok'] > 100 and '3' in j['versions'] and '2' in j['versions']")" = True ] ||
  fail "load did not see both versions: $(cat "$T/load.json")"
[ "$(grep -c "housing: version 9 refused" "$T/serve.log")" = 1 ] || fail "the refusal was logged more than once"
expect_status 200 "$(post /v1/models/housing:predict "$good")" "predict after the refusal"
[ "$(header X-Model-Version)" = 3 ] || fail "after the broken 9 the default is $(header X-Model-Version)"
expect_error 404 "$(post /v1/models/housing/versions/9:predict "$good")" "predict on the refused version"
expect_status 200 "$(call GET /v1/models/housing/versions/9)" "status of the refused version"
[ "$(body "j['model_version_status'][0]['state'], j['model_version_status'][0]['status']['error_code'] != 'OK'")" = "END True" ] ||
  fail "refused version status: $(cat "$T/body")"
# A removed version is unloaded.
rm -rf "$EXP/housing/1"
gone_1() { [ "$(call GET /v1/models/housing/versions/1)" = 404 ]; }
wait_for "removed version 1 still served" gone_1

# --- /metrics: Prometheus text; batching merged concurrent requests (--batch-timeout-us 2000) ---
expect_status 200 "$(call GET /metrics)" metrics
grep -q '^Content-Type: text/plain; version=0.0.4' <(tr -d '\r' <"$T/headers") || fail "metrics content type"
for family in dlctl_serve_requests_total dlctl_serve_request_errors_total dlctl_serve_request_duration_seconds \
  dlctl_serve_batch_size dlctl_serve_loaded_versions; do
  grep -q "^# HELP $family " "$T/body" && grep -q "^# TYPE $family " "$T/body" || fail "metrics lack HELP/TYPE of $family"
done
grep -Eq '^dlctl_serve_requests_total\{model="housing",version="3",method="predict",code="200"\} [1-9]' "$T/body" ||
  fail "no predict count for housing 3"
grep -Eq '^dlctl_serve_requests_total\{model="housing",version="",method="predict",code="404"\} [1-9]' "$T/body" ||
  fail "no 404 count"
grep -Eq '^dlctl_serve_request_errors_total\{model="housing",version=""\} [1-9]' "$T/body" || fail "no error count"
grep -Eq '^dlctl_serve_request_duration_seconds_bucket\{model="housing",version="3",le="\+Inf"\} [1-9]' "$T/body" ||
  fail "no latency histogram"
grep -q '^dlctl_serve_loaded_versions{model="housing"} 2$' "$T/body" || fail "loaded versions gauge (2, 3)"
$PY - "$T/body" <<'PY' || fail "no batch of more than one row under concurrent load"
import re, sys
text = open(sys.argv[1]).read()
for version in ("2", "3"):
    le1 = re.search(r'dlctl_serve_batch_size_bucket\{model="housing",version="%s",le="1"\} (\d+)' % version, text)
    count = re.search(r'dlctl_serve_batch_size_count\{model="housing",version="%s"\} (\d+)' % version, text)
    if le1 and count and int(count.group(1)) > int(le1.group(1)):
        sys.exit(0)
sys.exit(1)
PY

# --- SIGTERM: a slow in-flight request (its body arrives in two halves) is answered, then the server exits 0 ---
$PY - "$PORT" "$T/started" >"$T/drain.json" <<'PY' &
import json, socket, sys, time
body = json.dumps({"instances": [[0.1 * (i % 10)] * 13 for i in range(2000)]}).encode()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/models/housing:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body[: len(body) // 2])
open(sys.argv[2], "w").close()
time.sleep(1.0)
s.sendall(body[len(body) // 2:])
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
    if length and len(rest) >= length[0]: break
head, _, rest = data.partition(b"\r\n\r\n")
print(json.dumps({"status": int(head.split()[1]), "predictions": len(json.loads(rest)["predictions"])}))
PY
drain_pid=$!
PIDS+=("$drain_pid")
for _ in $(seq 200); do [ -e "$T/started" ] && break; sleep 0.05; done
[ -e "$T/started" ] || fail "the slow client never started"
sleep 0.2
kill -TERM "$PID"
start=$(date +%s.%N)
wait "$drain_pid" || fail "the in-flight request's client failed"
rc=0; wait "$PID" || rc=$?
took=$($PY -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
[ "$rc" = 0 ] || fail "SIGTERM: exit $rc, want 0: $(tail -5 "$T/serve.log")"
$PY -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.5 else 1)" "$took" || fail "the server exited before the slow request's body arrived"
[ "$(json "$T/drain.json" "j['status'], j['predictions']")" = "200 2000" ] || fail "in-flight request: $(cat "$T/drain.json")"
$PY -c "import sys; sys.exit(0 if float(sys.argv[1]) < 4 else 1)" "$took" || fail "exit took ${took}s after SIGTERM"
grep -q "finishing in-flight requests" "$T/serve.log" || fail "SIGTERM not logged"
# --- A model without versions yet: 503 until one appears; --label wins over labels.json ---
mkdir "$T/late"
echo '{"stable": 3}' >"$EXP/housing/labels.json"
NO_READY_WAIT=1 start_server "$T/serve2.log" "$EXP/housing" "$T/late" --max-batch 4 --poll-ms 100 --label housing:stable=2
grep -q "serving housing versions \[2, 3\], late versions \[\] on" "$T/serve2.log" || fail "start-up line: $(cat "$T/serve2.log")"
expect_status 200 "$(call GET /healthz)" "healthz before ready"
expect_status 503 "$(call GET /readyz)" "readyz with a model without versions"
[ "$(body "j['ready'], j['models']['late']")" = "False []" ] || fail "readyz: $(cat "$T/body")"
expect_error 503 "$(post /v1/models/late:predict "{\"instances\": [[$iris_row]]}")" "predict before any version"
expect_status 200 "$(post /v1/models/housing:predict "$good")" "flag label over labels.json"
[ "$(header X-Model-Version)" = 2 ] || fail "--label housing:stable=2 lost to labels.json (answered by $(header X-Model-Version))"
cp -r "$EXP/iris/1" "$T/late/.tmp-1" && mv "$T/late/.tmp-1" "$T/late/1"
ready() { [ "$(call GET /readyz)" = 200 ]; }
wait_for "readyz never became 200 once late/1 appeared" ready
expect_status 200 "$(post /v1/models/late:predict "{\"instances\": [[$iris_row]]}")" "predict on the late model"

# --- Default batching (no timeout: a request finding the engine idle runs it itself) with a small --max-batch:
# concurrent clients still get their own rows back, a request over --max-batch is split, SIGINT drains too ---
rm -f "$T/stop"
$PY "$T/load.py" "$PORT" "$T/stop" >"$T/load2.json" &
load_pid=$!
PIDS+=("$load_pid")
ten=$($PY -c "print([[round(0.1 * ((i * 7 + j * 3) % 17), 2) for j in range(13)] for i in range(10)])")
expect_status 200 "$(post /v1/models/housing:predict "{\"instances\": $ten}")" "10 rows over --max-batch 4"
tens=$(body "j['predictions']")
for i in 0 3 9; do
  one=$($PY -c "import sys; print([[round(0.1 * ((${i} * 7 + j * 3) % 17), 2) for j in range(13)]])")
  expect_status 200 "$(post /v1/models/housing:predict "{\"instances\": $one}")" "row $i alone"
  $PY -c "import sys, json; a = json.loads(sys.argv[1])[$i][0]; b = json.loads(sys.argv[2])[0][0]; sys.exit(abs(a - b) > 1e-5 * max(1, abs(a)))" \
    "$tens" "$(body "j['predictions']")" || fail "row $i: $(body "j['predictions']") alone, in a batch of 10: $tens"
done
sleep 1
touch "$T/stop"
wait "$load_pid"
[ "$(json "$T/load2.json" "j['failed'], j['mismatched'], j['ok'] > 100")" = "0 0 True" ] ||
  fail "default batching under load: $(cat "$T/load2.json")"
kill -INT "$PID"
rc=0; wait "$PID" || rc=$?
[ "$rc" = 0 ] || fail "SIGINT: exit $rc, want 0"

echo "serve: ok (canary split $(json "$T/split.json" "j['plain'], j['ids']") of 1000; load $(json "$T/load.json" "j['ok'], j['versions']"); drained in ${took}s)"
