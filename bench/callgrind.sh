#!/usr/bin/env bash
# Instructions per request of the gateway's hot path, counted by callgrind: deterministic, so
# usable while other work shares the machine (wall-clock numbers are not).
#
#   bench/callgrind.sh [BUILD_DIR] [N]        (defaults: build, 2000)
#
# Runs the gateway under valgrind twice with the bench configuration (apikey auth, jsonl call
# log, stats analytics, model bench-model -> an openai provider at sy_mock_upstream): once with
# no request, once with N small non-streaming chat completions (the body of wrk/chat.lua) sent
# one after another on one keep-alive connection. Prints (total with N - total with 0) / N and
# the call log's line count. With KEEP_TMP=1 both profiles are kept for
#   callgrind_annotate --inclusive=yes --threshold=100 --auto=no <tmp>/requests.cg
# SY_PRELOAD=<lib> runs the gateway with LD_PRELOAD (to compare allocators).
# STREAM_EVENTS=E makes each request a stream of E events (the mock spaces them
# STREAM_INTERVAL_MS apart, default 5, so each is its own read) and also prints the cost per event.
# Needs valgrind, python3, curl. Only 127.0.0.1 is used; every process started is stopped.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${1:-build}
N=${2:-2000}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$REPO/$BUILD_DIR" ;; esac
for tool in valgrind callgrind_annotate python3 curl sha256sum; do
  command -v "$tool" >/dev/null || { echo "callgrind.sh: '$tool' not found" >&2; exit 1; }
done
for f in bin/switchyard bin/sy_mock_upstream; do
  [[ -x "$BUILD_DIR/$f" ]] || { echo "callgrind.sh: $BUILD_DIR/$f is not built" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/sy-callgrind.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

KEY=sk-callgrind-$$
KEY_SHA=$(printf %s "$KEY" | sha256sum | awk '{print $1}')
# Only the plugins the configuration uses: the gateway hashes every library it finds at start.
mkdir -p "$TMP/plugins"
for p in openai apikey jsonl stats; do
  cp "$BUILD_DIR/bin/plugins/libswitchyard_$p.so" "$TMP/plugins/"
done

STREAM_EVENTS=${STREAM_EVENTS:-0}
"$BUILD_DIR/bin/sy_mock_upstream" --port 0 --quiet --events "$STREAM_EVENTS" \
  --interval-ms "${STREAM_INTERVAL_MS:-5}" >"$TMP/mock.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$TMP/mock.log" && break; sleep 0.1; done
MOCK_PORT=$(sed -n 's/.*listening 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/mock.log")
[[ -n $MOCK_PORT ]] || { echo "callgrind.sh: the mock upstream did not start" >&2; exit 1; }

CONFIG_PY='
import json, socket, sys
out, plugins, cache, calls, mock, key_sha = sys.argv[1:]
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
port, admin = [x.getsockname()[1] for x in s]
json.dump({
  "server": {"listen": f"127.0.0.1:{port}", "thread_stack_kb": 256, "min_threads": 16},
  "admin": {"listen": f"127.0.0.1:{admin}"},
  "plugins": {"dirs": [plugins], "cache_dir": cache},
  "providers": {"mock": {"type": "openai", "base_url": f"http://127.0.0.1:{mock}/v1",
                         "max_idle_connections": 128, "config": {}}},
  "models": {"bench-model": {"provider": "mock", "upstream_model": "bench-model"}},
  "auth": [{"type": "apikey", "config": {"keys": [{"id": "bench", "sha256": key_sha,
                                                    "tenant": "bench", "app": "bench"}]}}],
  "log_sinks": [{"name": "calls", "type": "jsonl", "config": {"path": calls}}],
  "analytics": [{"name": "stats", "type": "stats", "config": {}}],
  "logging": {"level": "warn"},
}, open(out, "w"))
print(port)
'

LOAD_PY='
import http.client, sys
port, n, key, stream = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] != "0"
body = "{\"model\":\"bench-model\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}],\"max_tokens\":16" + (",\"stream\":true}" if stream else "}")
c = http.client.HTTPConnection("127.0.0.1", port)
bad = 0
for _ in range(n):
    c.request("POST", "/v1/chat/completions", body=body,
              headers={"Content-Type": "application/json", "Authorization": "Bearer " + key})
    r = c.getresponse()
    r.read()
    bad += r.status != 200
if bad:
    sys.exit(f"callgrind.sh: {bad} of {n} requests were not answered 200")
'

# run NAME COUNT: one gateway under callgrind, COUNT requests, then SIGTERM. Sets TOTAL and LINES.
run() {
  local name=$1 count=$2 dir="$TMP/$1" port pid
  mkdir -p "$dir"
  port=$(python3 -c "$CONFIG_PY" "$dir/switchyard.json" "$TMP/plugins" "$dir/plugin-cache" \
    "$dir/calls.jsonl" "$MOCK_PORT" "$KEY_SHA")
  env ${SY_PRELOAD:+LD_PRELOAD=$SY_PRELOAD} valgrind --tool=callgrind \
    --callgrind-out-file="$TMP/$name.cg" "$BUILD_DIR/bin/switchyard" --config "$dir/switchyard.json" \
    >"$dir/switchyard.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 600); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; then
    echo "callgrind.sh: the gateway did not start; its log:" >&2
    tail -n 20 "$dir/switchyard.log" >&2
    exit 1
  fi
  python3 -c "$LOAD_PY" "$port" "$count" "$KEY" "$STREAM_EVENTS"
  sleep 1 # lets the sinks' batch interval pass before the stop
  kill -TERM "$pid"
  wait "$pid" || true
  LINES=$(wc -l <"$dir/calls.jsonl" 2>/dev/null || echo 0)
  TOTAL=$(callgrind_annotate "$TMP/$name.cg" 2>/dev/null |
    awk '/PROGRAM TOTALS/ && !t {gsub(",", "", $1); print $1; t = 1}')
}

run idle 0
BASE=$TOTAL
run requests "$N"
echo "requests=$N call_log_lines=$LINES instructions_per_request=$(((TOTAL - BASE) / N))" \
  "(total $TOTAL, start and stop alone $BASE)"
if ((STREAM_EVENTS > 0)); then
  echo "stream_events=$STREAM_EVENTS instructions_per_event=$(((TOTAL - BASE) / (N * STREAM_EVENTS)))" \
    "(the whole stream's cost spread over its events)"
fi
