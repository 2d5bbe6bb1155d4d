# Shared by the bench scripts (sourced, not run): logging, free loopback
# ports and waiting for a server to answer.

log() { printf '== %s\n' "$*" >&2; }

# Servers the script started (it appends to pids); stop_pids ends them all.
pids=()
stop_pids() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}

# A free loopback port (TCP and UDP), never one handed out before in this run.
used_ports=" "
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        [[ $used_ports == *" $port "* ]] && continue
        if ! ss -Htuan "( sport = :$port )" | grep -q .; then
            used_ports+="$port "
            echo "$port"
            return
        fi
    done
}

# Waits until GET /ping answers 204; fails after $2 seconds.
wait_ping() {
    local url=$1 seconds=$2 i
    for ((i = 0; i < seconds * 100; i++)); do
        if [[ $(curl -s -o /dev/null -w '%{http_code}' "$url/ping" 2>/dev/null) == 204 ]]; then
            return 0
        fi
        sleep 0.01
    done
    return 1
}

# Starts influxd (1.x) on a free loopback port with its data under $1, its
# log in $2, and a database "bench"; sets influx_url and influx_pid.
start_influxd() {
    local dir=$1 logfile=$2 http
    mkdir -p "$dir"
    http=$(free_port)
    influx_url=http://127.0.0.1:$http
    cat >"$dir/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$(free_port)"

[meta]
  dir = "$dir/meta"

[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$http"
  log-enabled = false

[logging]
  level = "warn"

[continuous_queries]
  enabled = false
EOF
    influxd -config "$dir/influxdb.conf" >"$logfile" 2>&1 &
    influx_pid=$!
    pids+=("$influx_pid")
    wait_ping "$influx_url" 30 || { log "influxd did not start (log: $logfile)"; return 1; }
    curl -sf -XPOST "$influx_url/query" --data-urlencode "q=CREATE DATABASE bench" >/dev/null
}
