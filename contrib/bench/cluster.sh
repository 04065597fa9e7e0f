#!/usr/bin/env bash
# Runs one chatbench chat workload against one chatd node and against three
# nodes sharing one PostgreSQL database (all clients in one room, spread
# over the nodes), one after the other on loopback, and prints them side by
# side from this one run (docs/cluster.md). A single node on SQLite runs
# first for reference.
#
#   make bench-cluster [WORKLOAD=paced] [CLIENTS=300] [SENDERS=30]
#                      [MESSAGES=20] [INTERVAL=500ms] [SVG=file.svg]
#
# It starts its own PostgreSQL from the Debian packages on a temporary
# directory (as the postgres user when run as root).
set -euo pipefail
cd "$(dirname "$0")/../.."

WORKLOAD=${WORKLOAD:-paced}
CLIENTS=${CLIENTS:-300}
SENDERS=${SENDERS:-30}
MESSAGES=${MESSAGES:-20}
INTERVAL=${INTERVAL:-} # chatbench's default: 500ms, none for burst
SVG=${SVG:-}
EXTRA=${EXTRA:-}

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pgbin" ]; then
	echo "bench-cluster: PostgreSQL is missing: apt-get install -y postgresql" >&2
	exit 1
fi

BENCH_NAME=bench-cluster
. contrib/bench/lib.sh
chmod 755 "$tmp" # the postgres user must reach its directory

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

CGO_ENABLED=0 go build -trimpath -o "$tmp/chatd" ./cmd/chatd
go build -o "$tmp/chatbench" ./cmd/chatbench

# PostgreSQL, tuned for a throwaway benchmark but with fsync on: commits
# cost what they cost in production.
mkdir "$tmp/pg"
[ "$(id -u)" = 0 ] && chown postgres "$tmp/pg"
as_pg "$pgbin/initdb" -D "$tmp/pg/data" -U postgres -A trust -E UTF8 --no-instructions >/dev/null
pgport=$(free_port)
as_pg "$pgbin/postgres" -D "$tmp/pg/data" -p "$pgport" -c listen_addresses=127.0.0.1 \
	-c unix_socket_directories= -c max_connections=200 >"$tmp/postgres.log" 2>&1 &
pids+=($!)
wait_port "$pgport" 300
url="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"

# pg_cpu prints the CPU seconds PostgreSQL's processes have used so far
# (chatbench -pid counts the chatd nodes only).
pg_cpu() {
	local master
	master=$(pgrep -f -- "^$pgbin/postgres -D $tmp/pg/data" | head -1)
	python3 - "$master" $(pgrep -P "$master") <<'PY'
import sys
t = 0
for pid in sys.argv[1:]:
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        t += int(f[11]) + int(f[12])
    except (OSError, IndexError):
        pass
print(t / 100)
PY
}
# pg_line LABEL BEFORE AFTER JSON: PostgreSQL's CPU for one run.
pg_lines=()
pg_line() {
	pg_lines+=("$(python3 -c '
import json, sys
label, before, after, path = sys.argv[1:]
d = json.load(open(path))["deliveries"]
cpu = float(after) - float(before)
print(f"{label:30s}PostgreSQL CPU {cpu:.2f} s, {cpu * 1e6 / max(d, 1):.1f} us per delivery")
' "$@")")
}

# config NAME DRIVER: a node's config from contrib/bench/chatd.toml.
config() {
	local port
	port=$(free_port)
	sed -e "s|@PORT@|$port|" -e "s|@DB@|$tmp/chatd.db|" -e "s|@ARGON2_MEMORY@|1024|" \
		-e "s|@ARGON2_PARALLELISM@|1|" -e "s|@ARGON2_CONCURRENT@|2|" \
		contrib/bench/chatd.toml >"$tmp/$1.toml"
	if [ "$2" = postgres ]; then
		sed -i -e "s|^path = .*|driver = \"postgres\"\nurl = \"$url\"|" "$tmp/$1.toml"
		printf '\n[cluster]\nnode = "%s"\nnode_timeout = "15s"\n' "$1" >>"$tmp/$1.toml"
	fi
	echo "$port"
}
# serve NAME: starts a node; sets port and pid.
serve() {
	"$tmp/chatd" serve -config "$tmp/$1.toml" 2>"$tmp/$1.log" &
	pid=$!
	pids+=("$pid")
	wait_port "$port" 300
}
stop_all_chatd() {
	for p in "$@"; do kill "$p"; wait "$p" 2>/dev/null || true; done
}

args=(-workload "$WORKLOAD" -clients "$CLIENTS" -senders "$SENDERS" -messages "$MESSAGES")
[ -n "$INTERVAL" ] && args+=(-interval "$INTERVAL")
# shellcheck disable=SC2206
args+=($EXTRA)
results=()

# 1. One node on SQLite: the single-node default, no database per line.
port=$(config sqlite sqlite)
serve sqlite
"$tmp/chatbench" "${args[@]}" -prefix sq -addr "127.0.0.1:$port" -label "1 node, SQLite" \
	-pid "$pid" -json "$tmp/1.json" >/dev/null
results+=("$tmp/1.json")
stop_all_chatd "$pid"

# 2. One node on PostgreSQL: a cluster of one.
port=$(config a postgres)
serve a
before=$(pg_cpu)
"$tmp/chatbench" "${args[@]}" -prefix pg -addr "127.0.0.1:$port" -label "1 node, PostgreSQL" \
	-pid "$pid" -json "$tmp/2.json" >/dev/null
pg_line "1 node, PostgreSQL" "$before" "$(pg_cpu)" "$tmp/2.json"
results+=("$tmp/2.json")
stop_all_chatd "$pid"

# 3. Three nodes on PostgreSQL, the clients spread over them.
addrs=() npids=()
for n in a b c; do
	port=$(config "$n" postgres)
	serve "$n"
	addrs+=("127.0.0.1:$port")
	npids+=("$pid")
done
before=$(pg_cpu)
"$tmp/chatbench" "${args[@]}" -prefix cl -addr "$(IFS=,; echo "${addrs[*]}")" -label "3 nodes, PostgreSQL" \
	-pid "$(IFS=,; echo "${npids[*]}")" -json "$tmp/3.json" >/dev/null
pg_line "3 nodes, PostgreSQL" "$before" "$(pg_cpu)" "$tmp/3.json"
results+=("$tmp/3.json")
stop_all_chatd "${npids[@]}"

report=("$tmp/chatbench" report)
[ -n "$SVG" ] && report+=(-svg "$SVG")
echo "# chatbench ${args[*]}  ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ))"
"${report[@]}" "${results[@]}"
printf '%s\n' "${pg_lines[@]}"
