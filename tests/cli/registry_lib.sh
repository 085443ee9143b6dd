# Sourced by the registry tests (after lib.sh): Debian's docker-registry on free loopback ports, each stopped by
# its PID however the test ends. Needs PY (a python3 with the test's modules) and HERE (tests/cli).
PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; fail "$1 never appeared"; }

# start_registry DIR AUTH_YAML [HTTP_TLS_YAML]: a registry with its own config on a free port; sets REG (host:port).
start_registry() {
  local dir=$1 auth=$2 tls=${3:-} port scheme=http
  port=$(free_port)
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port, secret: dlctl-test${tls:+, $tls}}
$auth
YML
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  PIDS+=($!)
  REG=127.0.0.1:$port
  [ -n "$tls" ] && scheme=https
  for _ in $(seq 200); do
    case "$(curl -sk -o /dev/null -w '%{http_code}' "$scheme://$REG/v2/")" in 200 | 401) return 0 ;; esac
    sleep 0.05
  done
  cat "$dir/log" >&2
  fail "the registry in $dir did not start"
}


# start_proxy REGISTRY FAULT=N...: registry_proxy.py (faults injected) in front of REGISTRY (host:port); sets PROXY.
start_proxy() {
  local upstream=$1
  shift
  rm -f "$T/proxy.port"
  $PY "$HERE/registry_proxy.py" "${upstream#*:}" "$T/proxy.port" "$@" 2>>"$T/proxy.log" &
  PIDS+=($!)
  wait_file "$T/proxy.port"
  PROXY=127.0.0.1:$(cat "$T/proxy.port")
}
