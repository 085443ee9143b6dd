# dlctl serve against hostile and sloppy clients (issue [6]): a body nested 70,000 deep, slow clients holding
# connections open (a bounded slowloris: SLOWLORIS_CONNECTIONS for SLOWLORIS_SECONDS while a normal client keeps
# its p99 under 50 ms), request smuggling shapes, pipelining, curl's form-encoded default, numbers outside
# float32, NaN literals, wrong nesting, :classify/:regress, any-case paths, and what a refused version shows.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
RUNS=$T/runs EXP=$T/export
quick=(--runs "$RUNS" --threads 1 --quiet --set train.epochs=2)
PIDS=()
stop_all() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; }
trap stop_all EXIT

expect_rc 0 "$DLCTL" train configs/housing.yaml "${quick[@]}"
expect_rc 0 "$DLCTL" train configs/iris.yaml "${quick[@]}"
expect_rc 0 "$DLCTL" export housing@1 --runs "$RUNS" --out "$EXP" --format native
expect_rc 0 "$DLCTL" export iris@1 --runs "$RUNS" --out "$EXP" --format native

# --- dlctl predict: a JSON line nested 70,000 deep is a clear exit 65, not a crash ---
python3 -c "n=70000; print('['*n + ']'*n)" >"$T/deep.jsonl"
expect_rc 65 "$DLCTL" predict "$EXP/housing/1" --input "$T/deep.jsonl"
grep -q "deep.jsonl:1.*nested deeper than" "$T/err" || fail "deep JSON line: $(cat "$T/err")"

start_server "$T/serve.log" "$EXP/housing" "$EXP/iris" --threads 8 --poll-ms 100

# A version whose dlctl.h5 is garbage: refused, and its status must not show the server's paths.
mkdir -p "$EXP/housing/9" && head -c 4096 /dev/urandom >"$EXP/housing/9/dlctl.h5"
# And a real version with one byte flipped in its middle: refused too, version 1 keeps serving.
mkdir -p "$T/v8" && cp "$EXP/housing/1/"* "$T/v8/"
python3 - "$T/v8/dlctl.h5" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x40
open(sys.argv[1], "wb").write(bytes(data))
PY
mv "$T/v8" "$EXP/housing/8"
sleep 0.5
grep -q "version 8 refused: .*8/dlctl.h5" "$T/serve.log" || fail "a flipped byte in version 8 was not refused naming the file: $(cat "$T/serve.log")"
kill -0 "$PID" || fail "a corrupt version killed the server"

# --- curl's own default: -d @file is form-urlencoded, and TF Serving's examples send it so ---
python3 -c "import json; print(json.dumps({'instances': [[0.1] * 13] * 300}))" >"$T/body.json"
[ "$(stat -c %s "$T/body.json")" -gt 8192 ] || fail "the form body must be over cpp-httplib's 8192-byte cap"
code=$(curl -sS -o "$T/reply" -w '%{http_code}' -d @"$T/body.json" "http://127.0.0.1:$PORT/v1/models/housing:predict")
[ "$code" = 200 ] || fail "curl -d @body.json: HTTP $code: $(head -c 300 "$T/reply")"

SERVE_PORT=$PORT SERVE_PID=$PID EXPORT_DIR=$EXP python3 - <<'PY' || fail "hostile clients (above)"
import json, os, select, socket, threading, time, http.client

port = int(os.environ["SERVE_PORT"])
failures = []

def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)

def raw(data, timeout=5.0, read_until_close=True):
    """Sends bytes on a fresh connection; returns everything the server sent until it closed (or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    chunks = []
    t0 = time.time()
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
            if not read_until_close and b"\r\n\r\n" in b"".join(chunks):
                break
    except socket.timeout:
        pass
    s.close()
    return b"".join(chunks), time.time() - t0

def post(path, body, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", path, body if isinstance(body, (bytes, str)) else json.dumps(body),
              {"Content-Type": "application/json", **(headers or {})})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data

def alive():
    try:
        os.kill(int(os.environ["SERVE_PID"]), 0)
        return True
    except OSError:
        return False

row = [0.1] * 13

# 1. One request nested 70,000 deep used to overflow the stack (exit 139).
n = 70000
status, data = post("/v1/models/housing:predict", '{"instances": ' + "[" * n + "]" * n + "}")
check(status == 400 and b"nested deeper" in data, f"deep body: {status} {data[:200]}")
check(alive(), "the server died on a deep body")

# 10. Numbers: 1e999 (parser overflow) and 1e39 (outside float32) are 400s with a clear message; NaN,
# Infinity and -Infinity literals are taken as TF Serving takes them.
status, data = post("/v1/models/housing:predict", '{"instances": [[1e999' + ", 1" * 12 + "]]}")
check(status == 400 and b"json.exception" not in data, f"1e999: {status} {data[:200]}")
status, data = post("/v1/models/housing:predict", '{"instances": [[1e39' + ", 1" * 12 + "]]}")
check(status == 400 and b"float32" in data, f"1e39: {status} {data[:200]}")
status, data = post("/v1/models/housing:predict", '{"instances": [[NaN, Infinity, -Infinity' + ", 1" * 10 + "]]}")
check(status == 200 and b"NaN" in data, f"NaN literals: {status} {data[:200]}")
status, data = post("/v1/models/housing:predict", '{"instances": ["NaN' + '"]}')
check(status == 400, f"the string 'NaN' is not a number: {status}")
# Wrong nesting: 13 values as [6][7] are not a [13] sample.
status, data = post("/v1/models/housing:predict", {"instances": [[row[:6], row[:7]]]})
check(status == 400 and b"shape" in data, f"wrong nesting accepted: {status} {data[:200]}")

# :classify and :regress, TF Serving's shapes.
iris = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
status, data = post("/v1/models/iris:classify", {"examples": [iris, {**iris, "petal_length": 5.0}]})
check(status == 200, f":classify {status} {data[:200]}")
if status == 200:
    results = json.loads(data)["results"]
    check(len(results) == 2 and [p[0] for p in results[0]] == ["setosa", "versicolor", "virginica"]
          and abs(sum(p[1] for p in results[0]) - 1) < 1e-4, f":classify results {results}")
features = json.loads(open(os.path.join(os.environ["EXPORT_DIR"], "housing/1/signature.json")).read())["inputs"][0]["features"]
example = dict(zip(features, row))
status, data = post("/v1/models/housing:regress", {"context": {features[0]: 0.5}, "examples": [example, example]})
check(status == 200 and len(json.loads(data)["results"]) == 2, f":regress {status} {data[:200]}")
status, pred = post("/v1/models/housing:predict", {"instances": [example]})
if status == 200:
    check(abs(json.loads(data)["results"][0] - json.loads(pred)["predictions"][0][0]) < 1e-4,
          ":regress and :predict disagree")
status, data = post("/v1/models/housing:classify", {"examples": [example]})
check(status == 400, f":classify on a regression model: {status}")

# Paths in any case, as TF Serving's handler takes them.
status, data = post("/V1/Models/housing:PREDICT", {"instances": [row]})
check(status == 200, f"upper-case path: {status} {data[:200]}")

# A refused version's status names no server path.
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("GET", "/v1/models/housing/versions/9")
r = c.getresponse()
body = r.read().decode()
check(r.status == 200 and "END" in body and os.environ["EXPORT_DIR"] not in body and "/tmp" not in body,
      f"refused version status: {r.status} {body[:300]}")
c.close()

# Pipelining: three GETs in one write get three answers, in order.
out, _ = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2 + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check(out.count(b"HTTP/1.1 200") == 3, f"pipelined GETs: {out.count(b'HTTP/1.1 200')} answers")

# Lengths: -5 is refused at once (it waited 5 s for a 413), two lengths are refused, no length is 411.
out, took = raw(b"POST /v1/models/housing:predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
check(out.startswith(b"HTTP/1.1 400") and took < 2.5, f"Content-Length -5: {out[:40]} in {took:.1f} s")
out, _ = raw(b"POST /v1/models/housing:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
check(out.startswith(b"HTTP/1.1 400"), f"two Content-Lengths: {out[:40]}")
out, _ = raw(b"POST /v1/models/housing:predict HTTP/1.1\r\nHost: x\r\n\r\n")
check(out.startswith(b"HTTP/1.1 411"), f"POST without Content-Length: {out[:40]}")
big = b"POST /v1/models/housing:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
out, took = raw(big)
check(out.startswith(b"HTTP/1.1 413") and took < 2.5, f"huge Content-Length: {out[:40]} in {took:.1f} s")

# 2. Slowloris: connections sending a header byte every 3 s never hold a worker; a request that is not whole
# within --timeout-s (5) is answered 408 and closed, and the slow client comes back. Meanwhile a normal
# client's predictions keep their p99 under 50 ms.
conns = int(os.environ.get("SLOWLORIS_CONNECTIONS", "200"))
seconds = float(os.environ.get("SLOWLORIS_SECONDS", "60"))
stop = threading.Event()
timeouts = [0]

def slow_client():
    s = None
    while not stop.is_set():
        try:
            if s is None:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"POST /v1/models/housing:predict HTTP/1.1\r\n")
            s.sendall(b"X")
            if stop.wait(3):
                break
            readable, _, _ = select.select([s], [], [], 0)
            if readable:  # the server answered (408) and closed: come back on a new connection
                if s.recv(64).startswith(b"HTTP/1.1 408"):
                    timeouts[0] += 1
                s.close()
                s = None
        except OSError:
            if s is not None:
                s.close()
            s = None
    if s is not None:
        s.close()

slow = [threading.Thread(target=slow_client, daemon=True) for _ in range(conns)]
for t in slow:
    t.start()
time.sleep(1)
latencies, errors = [], 0
body = json.dumps({"instances": [row]})
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
t_end = time.time() + seconds
while time.time() < t_end:
    t0 = time.perf_counter()
    try:
        c.request("POST", "/v1/models/housing:predict", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            errors += 1
    except Exception:
        errors += 1
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies.append(time.perf_counter() - t0)
    time.sleep(0.01)
stop.set()
for t in slow:
    t.join(timeout=10)
latencies.sort()
p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("inf")
print(f"slowloris: {conns} slow connections for {seconds:.0f} s, {timeouts[0]} cut by the deadline; normal client: "
      f"{len(latencies)} requests, {errors} failed, p50 {latencies[len(latencies) // 2] * 1000:.2f} ms, p99 {p99:.2f} ms",
      flush=True)
check(errors == 0, f"{errors} normal requests failed during the slowloris")
check(p99 < 50, f"p99 {p99:.1f} ms during the slowloris (want < 50)")
check(timeouts[0] >= conns, "slow connections were never cut by the request deadline")
check(alive(), "the server died")
raise SystemExit(1 if failures else 0)
PY

# SIGTERM still drains and exits 0.
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
[ "$rc" = 0 ] || fail "serve exited $rc on SIGTERM: $(tail -5 "$T/serve.log")"
grep -q "version 9 refused" "$T/serve.log" || fail "the broken version was not logged"
