#!/usr/bin/env bash
# Switchyard benchmark: gateway vs. an nginx reverse proxy in front of the same mock upstream.
#
#   bench/run.sh [BUILD_DIR] [--nginx-only] [--skip-streams]
#
# BUILD_DIR (default: build) holds bin/switchyard, bin/plugins/ and, in a full build,
# bin/sy_mock_upstream + bin/sy_stream_load + bin/sy_rate_load (built standalone into
# BUILD_DIR/bench-tools when missing). --nginx-only runs the reference half without a gateway
# (to validate the setup).
#
# Per proxy: a wrk saturation run (requests/s), then a latency-at-load run: sy_rate_load at a
# fixed rate of RATE_FRACTION x nginx's wrk requests/s (open loop, latency from each request's
# scheduled send time); the same fixed-rate run against the mock alone is the floor.
#
# Knobs (environment): WRK_DURATION=10s WRK_CONNECTIONS=64 WRK_WARMUP=2s RATE_FRACTION=0.5
# RATE_RPS (a fixed rate instead of the fraction) RATE_CONNECTIONS=64 RATE_DURATION=10 (s)
# RATE_WARMUP=2 (s) RATE_DRAIN=5 (s) STREAMS=10000
# STREAM_EVENTS=20 STREAM_INTERVAL_MS=100 STREAM_RAMP_MS=2000 STREAM_TIMEOUT_S=60
# STREAM_PROCS=auto (processes each proxy holds the streams in; auto: as many as the fd limit needs)
# BENCH_TOOLS_DIR (where sy_mock_upstream/sy_stream_load are; default BUILD_DIR/bin)
# STREAM_DIRECT=1 (also run the streams against the mock alone, as a client/fixture baseline)
# SY_BENCH_AUTH_CONFIG / SY_BENCH_JSONL_CONFIG (JSON for the apikey / jsonl plugin "config"
# blocks; @KEY_SHA256@ and @TMP@ are substituted) KEEP_TMP=1 (keep logs and configs).
#
# Only 127.0.0.1 is used. Every process started here is stopped on exit (trap EXIT).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)

BUILD_DIR=build
NGINX_ONLY=0
SKIP_STREAMS=0
for arg in "$@"; do
  case "$arg" in
    --nginx-only) NGINX_ONLY=1 ;;
    --skip-streams) SKIP_STREAMS=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    *) BUILD_DIR=$arg ;;
  esac
done
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$REPO/$BUILD_DIR" ;; esac

WRK_DURATION=${WRK_DURATION:-10s}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-64}
WRK_WARMUP=${WRK_WARMUP:-2s}
RATE_FRACTION=${RATE_FRACTION:-0.5}
RATE_RPS=${RATE_RPS:-}
RATE_CONNECTIONS=${RATE_CONNECTIONS:-64}
RATE_DURATION=${RATE_DURATION:-10}
RATE_WARMUP=${RATE_WARMUP:-2}
RATE_DRAIN=${RATE_DRAIN:-5}
STREAMS=${STREAMS:-10000}
# Threads the gateway starts up front (server.min_threads). Starting one per expected stream
# was measured and did not shorten time to first byte, so the gateway's default is used.
SY_MIN_THREADS=${SY_MIN_THREADS:-16}
STREAM_EVENTS=${STREAM_EVENTS:-20}
STREAM_INTERVAL_MS=${STREAM_INTERVAL_MS:-100}
STREAM_RAMP_MS=${STREAM_RAMP_MS:-2000}
STREAM_TIMEOUT_S=${STREAM_TIMEOUT_S:-60}
STREAM_DIRECT=${STREAM_DIRECT:-1}
STREAM_PROCS=${STREAM_PROCS:-auto}
BENCH_KEY=${SY_BENCH_KEY:-sk-bench-$(date +%s)-$$}

log() { printf '[run.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }

for tool in wrk nginx taskset python3 curl sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' not found in PATH"
done

SWITCHYARD="$BUILD_DIR/bin/switchyard"
PLUGIN_DIR="$BUILD_DIR/bin/plugins"
if [[ $NGINX_ONLY == 0 ]]; then
  [[ -x "$SWITCHYARD" ]] || die "switchyard binary not found at $SWITCHYARD.
  Build the gateway first (cmake -S $REPO -B $BUILD_DIR && cmake --build $BUILD_DIR -j),
  pass the right BUILD_DIR, or run with --nginx-only for the reference half."
  [[ -d "$PLUGIN_DIR" ]] || die "plugin directory $PLUGIN_DIR not found (openai, apikey, jsonl plugins expected)"
fi

# --- tools ----------------------------------------------------------------------------------
TOOLS_DIR=${BENCH_TOOLS_DIR:-$BUILD_DIR/bin}
MOCK="$TOOLS_DIR/sy_mock_upstream"
LOAD="$TOOLS_DIR/sy_stream_load"
RATE_LOAD="$TOOLS_DIR/sy_rate_load"
if [[ ! -x "$MOCK" || ! -x "$LOAD" || ! -x "$RATE_LOAD" ]]; then
  log "bench tools not in $TOOLS_DIR; building them standalone in $BUILD_DIR/bench-tools"
  cmake -S "$BENCH_DIR" -B "$BUILD_DIR/bench-tools" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR/bench-tools" -j "$(nproc)" >/dev/null
  MOCK="$BUILD_DIR/bench-tools/bin/sy_mock_upstream"
  LOAD="$BUILD_DIR/bench-tools/bin/sy_stream_load"
  RATE_LOAD="$BUILD_DIR/bench-tools/bin/sy_rate_load"
fi

# --- limits ---------------------------------------------------------------------------------
# A proxy holding N streams needs ~2N fds (client side + upstream side) in one process.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
# Where the limit cannot be raised (no CAP_SYS_RESOURCE), each proxy holds the streams in as many
# processes as the limit needs, sharing one port (nginx: workers with `reuseport`; the gateway:
# instances with server.reuse_port), all on the proxy's one core.
if [[ $STREAM_PROCS == auto ]]; then
  STREAM_PROCS=$(( (2 * STREAMS + 200 + NOFILE - 1) / NOFILE ))
fi
(( STREAM_PROCS >= 1 )) || die "STREAM_PROCS must be a positive number"
if (( STREAM_PROCS > 1 )); then
  log "nofile is $NOFILE: each proxy holds the $STREAMS streams in $STREAM_PROCS processes on one port"
fi
CPU_PROXY=0
CPU_LOAD=1
if (( $(nproc) < 2 )); then CPU_LOAD=0; log "WARNING: 1 CPU; proxy and load share it"; fi
CLK_TCK=$(getconf CLK_TCK)

# --- temp dir, process bookkeeping ------------------------------------------------------------
TMP=$(mktemp -d /tmp/sy-bench.XXXXXX)
RES="$TMP/res"
mkdir -p "$RES"
PIDS=()
cleanup() {
  local rc=$?
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_pid PID: TERM, wait up to 30 s (the gateway's default drain window), then KILL;
# STOP_RC is its exit status (137 = killed) and STOP_SECS how long it took to exit.
# The pid is dropped from PIDS once reaped, so cleanup never signals a recycled pid.
stop_pid() {
  local p=$1 q keep=() start
  STOP_RC=0
  start=$(date +%s.%N)
  if kill -TERM "$p" 2>/dev/null; then
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  STOP_SECS=$(python3 -c "import time; print('%.1f' % (time.time() - $start))")
  wait "$p" 2>/dev/null || STOP_RC=$?
  for q in "${PIDS[@]}"; do [[ $q == "$p" ]] || keep+=("$q"); done
  PIDS=("${keep[@]}")
}

free_ports() {  # free_ports N: N distinct currently-free loopback ports
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_port() {  # wait_port PORT PID NAME LOGFILE: poll until it accepts, fail if PID dies
  local port=$1 pid=$2 name=$3 logf=$4
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logf" >&2 || true; die "$name exited during startup (log: $logf)"; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  tail -n 20 "$logf" >&2 || true
  die "$name did not listen on 127.0.0.1:$port within 20 s"
}

# cpu_snapshot: "cpuN total idle" per CPU, for busy% of each core over a run.
cpu_snapshot() { awk '/^cpu[0-9]/ {t = 0; for (i = 2; i <= NF; i++) t += $i; print $1, t, $5 + $6}' /proc/stat; }
cpu_busy() {  # cpu_busy BEFORE AFTER CPU: busy percent of cpuN between two snapshots
  awk -v c="cpu$3" 'NR == FNR && $1 == c {t0 = $2; i0 = $3} NR != FNR && $1 == c {t1 = $2; i1 = $3}
    END {if (t1 > t0) printf "%.0f", 100 * (1 - (i1 - i0) / (t1 - t0)); else print "?"}' "$1" "$2"
}
# PIDS below may be one pid or several joined by commas (a proxy in several processes): summed.
cpu_ticks() {  # cpu_ticks PIDS: utime + stime in clock ticks
  local p t=0
  for p in ${1//,/ }; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done
  echo "$t"
}
status_field() {  # status_field PIDS FIELD: a numeric field of /proc/PID/status
  local p v t=0
  for p in ${1//,/ }; do
    v=$(awk -v k="$2:" '$1 == k {print $2}' "/proc/$p/status" 2>/dev/null || true)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
alive_all() {  # alive_all PIDS: every one still running
  local p
  for p in ${1//,/ }; do kill -0 "$p" 2>/dev/null || return 1; done
}

start_sampler() {  # start_sampler PIDS OUTFILE: "threads rss_kb" every 200 ms while they live
  local pid=$1 out=$2
  ( while alive_all "$pid"; do
      printf '%s %s\n' "$(status_field "$pid" Threads)" "$(status_field "$pid" VmRSS)"
      sleep 0.2
    done ) >"$out" 2>/dev/null &
  SAMPLER=$!
  PIDS+=("$SAMPLER")
}

read -r MOCK_PORT NGINX_PORT SY_PORT SY_ADMIN_PORT <<<"$(free_ports 4)"

# Is anything else using the CPUs? (load average lags by minutes; sample one second instead)
cpu_snapshot >"$RES/idle.0"
sleep 1
cpu_snapshot >"$RES/idle.1"
BUSY_BEFORE=$(cpu_busy "$RES/idle.0" "$RES/idle.1" "$CPU_PROXY")/$(cpu_busy "$RES/idle.0" "$RES/idle.1" "$CPU_LOAD")
if awk -v a="${BUSY_BEFORE%/*}" -v b="${BUSY_BEFORE#*/}" 'BEGIN {exit !(a > 10 || b > 10)}'; then
  log "WARNING: CPU $CPU_PROXY/$CPU_LOAD already ${BUSY_BEFORE}% busy before starting: something else"
  log "         is running (a build?); numbers will be noisy. The summary records it."
fi

# --- facts ----------------------------------------------------------------------------------
{
  echo "date_utc=$(date -u +'%Y-%m-%d %H:%M UTC')"
  echo "git=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty')"
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel=$(uname -sr)"
  echo "nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //')"
  echo "wrk=$(wrk --version 2>&1 | head -n1 | awk '{print $1, $2}')"
  if [[ $NGINX_ONLY == 0 ]]; then
    echo "switchyard=$("$SWITCHYARD" --version 2>&1 | head -n1)"
  fi
  echo "busy_before=CPU $CPU_PROXY/$CPU_LOAD ${BUSY_BEFORE}% busy in the second before start; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "nofile=$NOFILE"
  echo "ip_local_port_range=$(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range)"
  echo "somaxconn=$(cat /proc/sys/net/core/somaxconn)"
  echo "pid_max=$(cat /proc/sys/kernel/pid_max)"
  echo "tcp_tw_reuse=$(cat /proc/sys/net/ipv4/tcp_tw_reuse)"
  echo "wrk_cmd=taskset -c $CPU_LOAD wrk -t1 -c$WRK_CONNECTIONS -d$WRK_DURATION --latency -s bench/wrk/chat.lua"
  echo "rate_cmd=taskset -c $CPU_LOAD sy_rate_load --rate <$( [[ -n $RATE_RPS ]] && echo "RATE_RPS $RATE_RPS" || echo "$RATE_FRACTION x nginx wrk req/s")> --connections $RATE_CONNECTIONS --duration-s $RATE_DURATION --warmup-s $RATE_WARMUP --drain-s $RATE_DRAIN"
  echo "streams=$STREAMS"
  echo "stream_shape=$STREAM_EVENTS events x $STREAM_INTERVAL_MS ms, ramp $STREAM_RAMP_MS ms, timeout $STREAM_TIMEOUT_S s"
  echo "pinning=proxy on CPU $CPU_PROXY; mock upstream, wrk, sy_rate_load and sy_stream_load on CPU $CPU_LOAD"
  echo "nginx_only=$NGINX_ONLY"
} >"$RES/facts.txt"

# --- mock upstream ----------------------------------------------------------------------------
log "mock upstream on 127.0.0.1:$MOCK_PORT (CPU $CPU_LOAD, $STREAM_EVENTS events x $STREAM_INTERVAL_MS ms)"
taskset -c "$CPU_LOAD" "$MOCK" --port "$MOCK_PORT" --events "$STREAM_EVENTS" \
  --interval-ms "$STREAM_INTERVAL_MS" >"$TMP/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_port "$MOCK_PORT" "$MOCK_PID" sy_mock_upstream "$TMP/mock.log"

CHAT_BODY='{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'
smoke() {  # smoke NAME PORT [curl args...]: one non-streaming request must answer 200
  local name=$1 port=$2
  shift 2
  local code
  code=$(curl -s -o "$TMP/smoke-$name.out" -w '%{http_code}' --max-time 10 "$@" \
    -H 'Content-Type: application/json' -d "$CHAT_BODY" "http://127.0.0.1:$port/v1/chat/completions" || true)
  [[ $code == 200 ]] || die "$name smoke test: HTTP $code, body: $(head -c 400 "$TMP/smoke-$name.out" 2>/dev/null)"
}

# run_wrk NAME PORT PID: warm-up, then the measured run; records proxy CPU seconds and peak RSS.
run_wrk() {
  local name=$1 port=$2 pid=$3
  log "throughput: $name (warm-up $WRK_WARMUP, then $WRK_DURATION, $WRK_CONNECTIONS connections)"
  SY_BENCH_KEY=$BENCH_KEY taskset -c "$CPU_LOAD" wrk -t1 -c"$WRK_CONNECTIONS" -d"$WRK_WARMUP" \
    -s "$BENCH_DIR/wrk/chat.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
  local t0 t1 m0 m1
  t0=$(cpu_ticks "$pid")
  m0=$(cpu_ticks "$MOCK_PID")
  cpu_snapshot >"$RES/tp_$name.cpu0"
  start_sampler "$pid" "$RES/tp_$name.samples"
  SY_BENCH_KEY=$BENCH_KEY taskset -c "$CPU_LOAD" wrk -t1 -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" \
    --latency -s "$BENCH_DIR/wrk/chat.lua" "http://127.0.0.1:$port/v1/chat/completions" \
    | tee "$RES/tp_$name.txt" >&2
  t1=$(cpu_ticks "$pid")
  m1=$(cpu_ticks "$MOCK_PID")
  cpu_snapshot >"$RES/tp_$name.cpu1"
  stop_pid "$SAMPLER"
  {
    echo "cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')"
    echo "mock_cpu_s=$(awk -v a="$m0" -v b="$m1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')"
    echo "proxy_core_busy=$(cpu_busy "$RES/tp_$name.cpu0" "$RES/tp_$name.cpu1" "$CPU_PROXY")"
    echo "load_core_busy=$(cpu_busy "$RES/tp_$name.cpu0" "$RES/tp_$name.cpu1" "$CPU_LOAD")"
    echo "hwm_kb=$(status_field "$pid" VmHWM)"
    echo "threads=$(status_field "$pid" Threads)"
  } >"$RES/tp_$name.proc"
}

# run_rate NAME PORT PID [sy_rate_load args...]: the latency-at-load run. Open loop at the fixed
# rate RATE (set after nginx's wrk run): each request is due at its scheduled time whatever the
# proxy did before, and its latency runs from then. Records the same proxy CPU / RSS / core-busy
# figures as run_wrk; the warm-up is inside the tool, so CPU covers warm-up + measured requests.
run_rate() {
  local name=$1 port=$2 pid=$3
  shift 3
  log "latency at load: $name ($RATE req/s for ${RATE_DURATION}s after ${RATE_WARMUP}s warm-up, $RATE_CONNECTIONS connections)"
  local t0 t1 m0 m1 rc=0
  t0=$(cpu_ticks "$pid")
  m0=$(cpu_ticks "$MOCK_PID")
  cpu_snapshot >"$RES/rl_$name.cpu0"
  start_sampler "$pid" "$RES/rl_$name.samples"
  taskset -c "$CPU_LOAD" "$RATE_LOAD" --port "$port" --rate "$RATE" --connections "$RATE_CONNECTIONS" \
    --duration-s "$RATE_DURATION" --warmup-s "$RATE_WARMUP" --drain-s "$RATE_DRAIN" --quiet "$@" \
    >"$RES/rl_$name.txt" 2>"$TMP/rl_$name.err" || rc=$?
  grep -v '^RESULT' "$RES/rl_$name.txt" >&2 || true
  t1=$(cpu_ticks "$pid")
  m1=$(cpu_ticks "$MOCK_PID")
  cpu_snapshot >"$RES/rl_$name.cpu1"
  stop_pid "$SAMPLER"
  {
    echo "rc=$rc"
    echo "cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')"
    echo "mock_cpu_s=$(awk -v a="$m0" -v b="$m1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')"
    echo "proxy_core_busy=$(cpu_busy "$RES/rl_$name.cpu0" "$RES/rl_$name.cpu1" "$CPU_PROXY")"
    echo "load_core_busy=$(cpu_busy "$RES/rl_$name.cpu0" "$RES/rl_$name.cpu1" "$CPU_LOAD")"
    echo "hwm_kb=$(status_field "$pid" VmHWM)"
    echo "threads=$(status_field "$pid" Threads)"
  } >"$RES/rl_$name.proc"
  [[ $rc == 0 ]] || log "WARNING: sy_rate_load against $name exited $rc (errors, non-2xx or timeouts; see the summary)"
}

# run_streams NAME PORT PID [sy_stream_load args...]: STREAMS concurrent SSE streams.
run_streams() {
  local name=$1 port=$2 pid=$3
  shift 3
  log "streams: $name ($STREAMS connections)"
  local t0=0 t1=0
  [[ $pid != 0 ]] && { t0=$(cpu_ticks "$pid"); start_sampler "$pid" "$RES/st_$name.samples"; }
  local rc=0
  taskset -c "${STREAM_CPU:-$CPU_LOAD}" "$LOAD" --port "$port" --connections "$STREAMS" \
    --ramp-ms "$STREAM_RAMP_MS" --timeout-s "$STREAM_TIMEOUT_S" --quiet "$@" \
    >"$RES/st_$name.txt" 2>"$TMP/st_$name.err" || rc=$?
  grep -v '^RESULT' "$RES/st_$name.txt" >&2 || true
  if [[ $pid != 0 ]]; then
    local alive=1
    alive_all "$pid" || alive=0
    [[ $alive == 1 ]] && t1=$(cpu_ticks "$pid")
    stop_pid "$SAMPLER"
    {
      echo "alive=$alive"
      echo "cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')"
      echo "hwm_kb=$( [[ $alive == 1 ]] && status_field "$pid" VmHWM || echo 0)"
      echo "procs=$(tr ',' '\n' <<<"$pid" | wc -l)"
    } >"$RES/st_$name.proc"
    [[ $alive == 1 ]] || log "WARNING: $name died during the stream run"
  fi
  echo "rc=$rc" >>"$RES/st_$name.rc"
}

# --- streams against the mock alone (baseline for the client + fixture) -----------------------
if [[ $SKIP_STREAMS == 0 && $STREAM_DIRECT == 1 ]]; then
  STREAM_CPU=$CPU_PROXY run_streams direct "$MOCK_PORT" 0
fi

# --- nginx ----------------------------------------------------------------------------------
NGX="$TMP/nginx"
mkdir -p "$NGX"
start_nginx() {  # start_nginx WORKERS: sets NGINX_PID and NGINX_WORKER (the workers' pids)
  local workers=$1 listen_opts=""
  (( workers > 1 )) && listen_opts=" reuseport"
  sed -e "s|@PREFIX@|$NGX|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@UPSTREAM_PORT@|$MOCK_PORT|g" \
    -e "s|@NOFILE@|$NOFILE|g" -e "s|@WORKER_CONNECTIONS@|$((NOFILE > 65536 ? 65536 : NOFILE))|g" \
    -e "s|@WORKERS@|$workers|g" -e "s|@LISTEN_OPTS@|$listen_opts|g" \
    "$BENCH_DIR/nginx.conf.template" >"$NGX/nginx.conf"
  log "nginx on 127.0.0.1:$NGINX_PORT (CPU $CPU_PROXY, $workers worker(s))"
  taskset -c "$CPU_PROXY" nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" >"$NGX/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_port "$NGINX_PORT" "$NGINX_PID" nginx "$NGX/error.log"
  for _ in $(seq 50); do
    (( $(pgrep -P "$NGINX_PID" | wc -l) >= workers )) && break
    sleep 0.1
  done
  NGINX_WORKER=$(pgrep -P "$NGINX_PID" | paste -sd, -)
  [[ -n $NGINX_WORKER ]] || die "no nginx worker process under master $NGINX_PID"
}
start_nginx 1
smoke nginx "$NGINX_PORT"
run_wrk nginx "$NGINX_PORT" "$NGINX_WORKER"
# The latency target is "p99 at half of nginx's requests/s": that rate, for every proxy alike.
NGINX_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$RES/tp_nginx.txt")
if [[ -n $RATE_RPS ]]; then
  RATE=$RATE_RPS
else
  [[ -n $NGINX_RPS ]] || die "no Requests/sec in nginx's wrk output ($RES/tp_nginx.txt); set RATE_RPS"
  RATE=$(awk -v r="$NGINX_RPS" -v f="$RATE_FRACTION" 'BEGIN {printf "%d", r * f + 0.5}')
fi
awk -v r="$RATE" 'BEGIN {exit !(r >= 1)}' || die "fixed rate '$RATE' req/s is not a positive number"
{
  echo "rate=$RATE"
  echo "rate_source=$( [[ -n $RATE_RPS ]] && echo "RATE_RPS" || echo "$RATE_FRACTION x nginx $NGINX_RPS req/s")"
} >"$RES/rate.txt"
# The floor: the same load straight at the mock (load and mock share CPU $CPU_LOAD, as in every
# proxied run), i.e. what the client and the fixture cost without a proxy in between.
run_rate mock "$MOCK_PORT" "$MOCK_PID"
run_rate nginx "$NGINX_PORT" "$NGINX_WORKER"
if [[ $SKIP_STREAMS == 0 ]]; then
  if (( STREAM_PROCS > 1 )); then
    stop_pid "$NGINX_PID"
    start_nginx "$STREAM_PROCS"
  fi
  run_streams nginx "$NGINX_PORT" "$NGINX_WORKER"
  # nginx's own signs of the fd ceiling (worker_connections = nofile here).
  grep -cE 'Too many open files|worker_connections are not enough' "$NGX/error.log" \
    >"$RES/st_nginx.emfile" 2>/dev/null || true
fi
stop_pid "$NGINX_PID"

# --- switchyard -----------------------------------------------------------------------------
if [[ $NGINX_ONLY == 0 ]]; then
  KEY_SHA=$(printf %s "$BENCH_KEY" | sha256sum | awk '{print $1}')
  AUTH_CONFIG=${SY_BENCH_AUTH_CONFIG:-'{"keys":[{"id":"bench","sha256":"@KEY_SHA256@","tenant":"bench","app":"bench"}]}'}
  JSONL_CONFIG=${SY_BENCH_JSONL_CONFIG:-'{"path":"@TMP@/calls.jsonl"}'}
  AUTH_CONFIG=${AUTH_CONFIG//@KEY_SHA256@/$KEY_SHA}
  JSONL_CONFIG=${JSONL_CONFIG//@TMP@/$TMP}
  SYCONF="$TMP/switchyard.json"
  python3 - "$SYCONF" <<EOF
import json, sys
cfg = {
  "server": {"listen": "127.0.0.1:$SY_PORT", "max_connections": 12000, "keep_alive_timeout_s": 5,
             "max_keep_alive_requests": 10000, "max_body_bytes": 33554432, "thread_stack_kb": 256,
             "min_threads": $SY_MIN_THREADS, "reuse_port": $( (( STREAM_PROCS > 1 )) && echo True || echo False)},
  "admin": {"listen": "127.0.0.1:$SY_ADMIN_PORT"},
  "plugins": {"dirs": ["$PLUGIN_DIR"], "cache_dir": "$TMP/plugin-cache", "poll_interval_ms": 1000,
              "drain_timeout_s": 600},
  "providers": {"mock": {"type": "openai", "base_url": "http://127.0.0.1:$MOCK_PORT/v1",
                         "timeouts": {"connect_ms": 5000, "first_byte_ms": 60000, "idle_ms": 60000,
                                      "total_ms": 600000},
                         "max_idle_connections": 128, "config": {}}},
  "models": {"bench-model": {"provider": "mock", "upstream_model": "bench-model"}},
  "auth": [{"type": "apikey", "config": json.loads('''$AUTH_CONFIG''')}],
  "log_sinks": [{"name": "calls", "type": "jsonl", "config": json.loads('''$JSONL_CONFIG''')}],
  "logging": {"level": "warn"},
}
json.dump(cfg, open(sys.argv[1], "w"), indent=2)
EOF
  "$SWITCHYARD" --check-config "$SYCONF" >"$TMP/check-config.log" 2>&1 \
    || die "switchyard --check-config rejected $SYCONF: $(cat "$TMP/check-config.log")
  (the apikey/jsonl config blocks are set by SY_BENCH_AUTH_CONFIG / SY_BENCH_JSONL_CONFIG)"
  log "switchyard on 127.0.0.1:$SY_PORT, admin $SY_ADMIN_PORT (CPU $CPU_PROXY)"
  taskset -c "$CPU_PROXY" "$SWITCHYARD" --config "$SYCONF" >"$TMP/switchyard.log" 2>&1 &
  SY_PID=$!
  PIDS+=("$SY_PID")
  wait_port "$SY_PORT" "$SY_PID" switchyard "$TMP/switchyard.log"
  wait_port "$SY_ADMIN_PORT" "$SY_PID" "switchyard admin" "$TMP/switchyard.log"
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SY_PORT/readyz" || true) == 200 ]] && break
    sleep 0.1
  done
  smoke switchyard "$SY_PORT" -H "Authorization: Bearer $BENCH_KEY"
  run_wrk switchyard "$SY_PORT" "$SY_PID"
  run_rate switchyard "$SY_PORT" "$SY_PID" --header "Authorization: Bearer $BENCH_KEY"
  if [[ $SKIP_STREAMS == 0 ]]; then
    # More gateway processes on the same port for the streams (see STREAM_PROCS), each with its
    # own admin port and call log, as several nodes on one machine would run.
    SY_PIDS=$SY_PID
    for i in $(seq 2 "$STREAM_PROCS"); do
      read -r admin_port <<<"$(free_ports 1)"
      python3 - "$SYCONF" "$TMP/switchyard-$i.json" "$admin_port" "$TMP/calls-$i.jsonl" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["admin"]["listen"] = "127.0.0.1:" + sys.argv[3]
cfg["log_sinks"][0]["config"]["path"] = sys.argv[4]
json.dump(cfg, open(sys.argv[2], "w"), indent=2)
EOF
      log "switchyard #$i on 127.0.0.1:$SY_PORT (SO_REUSEPORT), admin $admin_port (CPU $CPU_PROXY)"
      taskset -c "$CPU_PROXY" "$SWITCHYARD" --config "$TMP/switchyard-$i.json" >"$TMP/switchyard-$i.log" 2>&1 &
      PIDS+=("$!")
      SY_PIDS+=",$!"
      wait_port "$admin_port" "$!" "switchyard #$i" "$TMP/switchyard-$i.log"
    done
    run_streams switchyard "$SY_PORT" "$SY_PIDS" --header "Authorization: Bearer $BENCH_KEY"
    for p in ${SY_PIDS//,/ }; do [[ $p == "$SY_PID" ]] || stop_pid "$p"; done
  fi
  kill -0 "$SY_PID" 2>/dev/null || log "WARNING: switchyard is not running at the end (see $TMP/switchyard.log)"
  # The sink rotates at 100 MiB: count the rotated files too (calls.jsonl.1, .2, ...).
  [[ -f "$TMP/calls.jsonl" ]] && cat "$TMP"/calls*.jsonl* | wc -l >"$RES/calls.count"
  stop_pid "$SY_PID"
  echo "$STOP_RC" >"$RES/switchyard.exit"
  echo "$STOP_SECS" >"$RES/switchyard.exit_secs"
fi

mkdir -p "$BENCH_DIR/results"
python3 "$BENCH_DIR/summarize.py" "$RES" >"$BENCH_DIR/results/latest.md"
cat "$BENCH_DIR/results/latest.md"
log "summary written to $BENCH_DIR/results/latest.md"
