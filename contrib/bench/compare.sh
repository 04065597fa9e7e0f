#!/usr/bin/env bash
# Runs one chatbench workload against chatd and against ngircd, one after
# the other on loopback, and prints both side by side from this one run,
# with their latency distributions drawn into one SVG chart.
#
#   make bench-compare [WORKLOAD=paced] [CLIENTS=1000] [SENDERS=100]
#                      [MESSAGES=20] [INTERVAL=500ms] [SVG=file.svg]
#                      [PROFILE=cpu.out]  (chatd's CPU profile; binary in cpu.out.bin)
#
# WORKLOAD=idle, loginstorm and offline run against chatd alone where IRC
# has no equivalent (offline) or when PEER=none. WORKLOAD=private (private
# messages to users online, with the sender's delivery status) is chatd
# alone too: IRC has no delivery status to measure; so is WORKLOAD=resume
# (a reconnect storm catching up through chatd's history command).
# EXTRA="-devices 2" gives every account a second session (paced, burst). BASELINE=REV (a git
# revision, e.g. main or HEAD~3) also runs chatd built from that revision,
# first, so a change is measured against its base in the same sitting.
# TOOL_BASELINE=REV also drives this tree's chatd with the chatbench built
# from REV, first (a change to the load tool against its base: the same
# server, both tools, one sitting).
# IRC=sasl (or IRC=pass) also drives chatd's own IRC listener with the irc
# dialect, as ngircd is driven, its clients logged in with SASL PLAIN (or
# PASS account:password) to accounts made first over chatd's JSON mode:
# chatd in JSON, chatd over IRC and ngircd side by side (paced and burst).
# PEER names the peer IRC server: ngircd (the default), ergo, both as
# PEER=ngircd,ergo, or none. ergo is the binary in ERGO (default the ergo
# on PATH), run with a config the script writes from `ergo defaultconfig`:
# plain-text loopback listener, fakelag and per-IP limits off, in-memory
# history as ergo ships it. IRCPROFILE=file writes the chatd-irc run's CPU
# profile (binary in file.bin). ACCOUNTS=made logs chatd's clients in to
# accounts made beforehand (a first idle run, not measured) instead of
# registering them on the way, as an IRC server's anonymous clients need
# none. RUNS=N repeats every server's run N times, in turns (chatd, the
# peer, chatd, ...), in one sitting; with ACCOUNTS=made the accounts are
# made once and each chatd run starts from a copy of that database.
# SETTINGS='[rooms]\nbusy_writes = 10000' adds those lines to every chatd's
# configuration (a setting's cost measured without editing the tree).
set -euo pipefail
cd "$(dirname "$0")/../.."

WORKLOAD=${WORKLOAD:-paced}
CLIENTS=${CLIENTS:-1000}
SENDERS=${SENDERS:-100}
MESSAGES=${MESSAGES:-20}
INTERVAL=${INTERVAL:-500ms}
SOURCES=${SOURCES:-1}
PEER=${PEER:-ngircd}
ARGON2=${ARGON2:-cheap}
SVG=${SVG:-}
PROFILE=${PROFILE:-}
EXTRA=${EXTRA:-}
BASELINE=${BASELINE:-}
TOOL_BASELINE=${TOOL_BASELINE:-}
IRC=${IRC:-}
IRCPROFILE=${IRCPROFILE:-}
ACCOUNTS=${ACCOUNTS:-}
RUNS=${RUNS:-1}
ERGO=${ERGO:-$(command -v ergo || true)}

case "$WORKLOAD" in offline | private | resume) PEER=none IRC= ;; esac
case "$IRC" in "" | sasl | pass) ;; *)
	echo "bench-compare: IRC=$IRC: want sasl or pass" >&2
	exit 1
	;;
esac
# peer NAME: whether PEER lists NAME.
peer() { case ",$PEER," in *",$1,"*) return 0 ;; esac; return 1; }
for p in ${PEER//,/ }; do
	case "$p" in ngircd | ergo | none) ;; *)
		echo "bench-compare: PEER=$PEER: want ngircd, ergo, ngircd,ergo or none" >&2
		exit 1
		;;
	esac
done
if peer ergo && [ ! -x "$ERGO" ]; then
	echo "bench-compare: ergo is missing: build it and set ERGO=path (or PEER=ngircd)" >&2
	exit 1
fi
if peer ngircd && ! command -v ngircd >/dev/null && [ ! -x /usr/sbin/ngircd ]; then
	echo "bench-compare: ngircd is missing: apt-get install -y ngircd (or PEER=none)" >&2
	exit 1
fi
if [ "$PEER" = ergo ] && [ ! -x "$ERGO" ]; then
	echo "bench-compare: ergo is missing: build it and pass ERGO=/path/to/ergo (or PEER=none)" >&2
	exit 1
fi
case "$ACCOUNTS" in "" | made) ;; *)
	echo "bench-compare: ACCOUNTS=$ACCOUNTS: want made (or unset)" >&2
	exit 1
	;;
esac

BENCH_NAME=bench-compare
. contrib/bench/lib.sh

CGO_ENABLED=0 go build -trimpath -o "$tmp/chatd" ./cmd/chatd
go build -o "$tmp/chatbench" ./cmd/chatbench
if [ -n "$BASELINE" ]; then
	mkdir "$tmp/base"
	git archive "$BASELINE" | tar -x -C "$tmp/base"
	(cd "$tmp/base" && CGO_ENABLED=0 go build -trimpath -o "$tmp/chatd-base" ./cmd/chatd)
fi
if [ -n "$TOOL_BASELINE" ]; then
	mkdir "$tmp/toolbase"
	git archive "$TOOL_BASELINE" | tar -x -C "$tmp/toolbase"
	(cd "$tmp/toolbase" && go build -o "$tmp/chatbench-base" ./cmd/chatbench)
fi

memory=1024 parallelism=1 concurrent=2
# real: chatd's default argon2 settings (DefaultConfig in config.go).
[ "$ARGON2" = real ] && memory=65536 parallelism=2 concurrent=4
# LANES=N overrides the argon2 parallelism; HASHWORKER=idle|nice|off sets
# argon2.worker (unset: chatd's default; a revision from before the key
# refuses it).
parallelism=${LANES:-$parallelism}
HASHWORKER=${HASHWORKER:-}
# SETTINGS adds lines of TOML (\n between them) to the end of every chatd's
# configuration, e.g. SETTINGS='[rooms]\nbusy_writes = 10000'.
SETTINGS=${SETTINGS:-}

# chatd_config PORT: chatd's configuration for a run on PORT, in
# $tmp/chatd.toml, from contrib/bench/chatd.toml and the settings above.
chatd_config() {
	sed -e "s|@PORT@|$1|" -e "s|@DB@|$tmp/chatd.db|" -e "s|@ARGON2_MEMORY@|$memory|" \
		-e "s|@ARGON2_PARALLELISM@|$parallelism|" -e "s|@ARGON2_CONCURRENT@|$concurrent|" \
		contrib/bench/chatd.toml >"$tmp/chatd.toml"
	[ -n "$HASHWORKER" ] && sed -i "/^max_concurrent = /a worker = \"$HASHWORKER\"" "$tmp/chatd.toml"
	[ -n "$SETTINGS" ] && printf '\n%b\n' "$SETTINGS" >>"$tmp/chatd.toml"
	return 0
}

args=(-workload "$WORKLOAD" -clients "$CLIENTS" -senders "$SENDERS" -messages "$MESSAGES"
	-interval "$INTERVAL" -sources "$SOURCES")
# shellcheck disable=SC2206
args+=($EXTRA)
results=()

# run_chatd BINARY LABEL [PROFILE]: a fresh chatd (its own port and
# database) under the workload, stopped afterwards so the next server has
# the box alone. With PROFILE, chatd writes its CPU profile of the whole
# run there (for go tool pprof; the binary is copied to PROFILE.bin).
# $bench is the load tool that drives it.
bench=$tmp/chatbench
run_chatd() {
	local port pid
	port=$(free_port)
	rm -f "$tmp/chatd.db"*
	chatd_config "$port"
	if [ "$ACCOUNTS" = made ]; then
		# The accounts, made once per binary by a chatd of their own:
		# the measured one starts with none of their sessions.
		local made=$tmp/accounts-$(basename "$1").db
		if [ ! -e "$made" ]; then
			"$1" serve -config "$tmp/chatd.toml" 2>"$tmp/$2-accounts.log" &
			pid=$!
			pids+=("$pid")
			wait_port "$port"
			"$bench" -workload idle -clients "$CLIENTS" -sources "$SOURCES" -parallel 100 -settle 100ms \
				-drain 1800s -timeout 60m -addr "127.0.0.1:$port" -dialect chatd >/dev/null
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			"$1" backup -config "$tmp/chatd.toml" "$made" >/dev/null
		fi
		rm -f "$tmp/chatd.db"*
		cp "$made" "$tmp/chatd.db"
	fi
	CHATD_CPUPROFILE=${3:+$(realpath -m "$3")} \
		"$1" serve -config "$tmp/chatd.toml" 2>"$tmp/$2.log" &
	pid=$!
	pids+=("$pid")
	wait_port "$port"
	# chatd's hash worker (argon2.worker) is a child process: its CPU and
	# memory count as the server's.
	local all=$pid child
	for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do all+=",$child"; done
	"$bench" "${args[@]}" -addr "127.0.0.1:$port" -dialect chatd -label "$2" \
		-pid "$all" -json "$tmp/${#results[@]}-chatd.json" >/dev/null
	results+=("$tmp/${#results[@]}-chatd.json")
	kill -TERM "$pid" 2>/dev/null || true # a profile is written as chatd stops
	wait "$pid" 2>/dev/null || true
	if [ -n "${3:-}" ]; then
		cp "$1" "$3.bin"
	fi
}

# run_chatds: chatd's runs of one turn (the baselines first).
run_chatds() {
	[ -n "$BASELINE" ] && run_chatd "$tmp/chatd-base" "chatd@$BASELINE$sfx"
	if [ -n "$TOOL_BASELINE" ]; then
		bench=$tmp/chatbench-base
		run_chatd "$tmp/chatd" "chatd,tool@$TOOL_BASELINE$sfx"
		bench=$tmp/chatbench
	fi
	run_chatd "$tmp/chatd" "chatd$sfx" "$PROFILE"
}

# run_chatd_irc: a fresh chatd with its IRC listener on; its accounts are
# made over JSON (the idle workload logs every client in once), then the
# workload runs over IRC.
run_chatd_irc() {
	local port iport pid
	port=$(free_port)
	iport=$(free_port)
	rm -f "$tmp/chatd.db"*
	chatd_config "$port"
	printf '\n[irc]\nlisten = "127.0.0.1:%s"\n' "$iport" >>"$tmp/chatd.toml"
	CHATD_CPUPROFILE=${IRCPROFILE:+$(realpath -m "$IRCPROFILE")} \
		"$tmp/chatd" serve -config "$tmp/chatd.toml" 2>"$tmp/chatd-irc.log" &
	pid=$!
	pids+=("$pid")
	wait_port "$port"
	wait_port "$iport"
	"$tmp/chatbench" -workload idle -clients "$CLIENTS" -sources "$SOURCES" -settle 100ms \
		-addr "127.0.0.1:$port" -dialect chatd >/dev/null
	local all=$pid child
	for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do all+=",$child"; done
	"$tmp/chatbench" "${args[@]}" -addr "127.0.0.1:$iport" -dialect irc -irc-login "$IRC" \
		-label "chatd-irc$sfx" -pid "$all" -json "$tmp/$run-8-chatd-irc.json" >/dev/null
	results+=("$tmp/$run-8-chatd-irc.json")
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [ -n "$IRCPROFILE" ]; then
		cp "$tmp/chatd" "$IRCPROFILE.bin"
	fi
}

# run_ngircd: ngircd under the workload, stopped afterwards.
run_ngircd() {
	nport=$(free_port)
	sed -e "s|@PORT@|$nport|" contrib/bench/ngircd.conf >"$tmp/ngircd.conf"
	ngircd=$(command -v ngircd || echo /usr/sbin/ngircd)
	"$ngircd" --nodaemon --config "$tmp/ngircd.conf" >"$tmp/ngircd.log" 2>&1 &
	npid=$!
	pids+=("$npid")
	wait_port "$nport"
	"$tmp/chatbench" "${args[@]}" -addr "127.0.0.1:$nport" -dialect irc -label "ngircd$sfx" \
		-pid "$npid" -json "$tmp/$run-9-ngircd.json" >/dev/null
	results+=("$tmp/$run-9-ngircd.json")
	kill -TERM "$npid" 2>/dev/null || true
	wait "$npid" 2>/dev/null || true
}

# run_ergo: ergo under the workload, with a fresh config and database,
# stopped afterwards.
run_ergo() {
	eport=$(free_port)
	rm -rf "$tmp/ergo"
	mkdir "$tmp/ergo"
	printf 'ergo for chatbench\n' >"$tmp/ergo/ergo.motd"
	"$ERGO" defaultconfig | /usr/bin/env python3 -c '
import sys, yaml
c = yaml.safe_load(sys.stdin)
port, dir = sys.argv[1], sys.argv[2]
s = c["server"]
s["listeners"] = {"127.0.0.1:" + port: None}
s["motd"] = dir + "/ergo.motd"
s["lookup-hostnames"] = False
s["ip-limits"]["count"] = False
s["ip-limits"]["throttle"] = False
c["fakelag"]["enabled"] = False
c["datastore"]["path"] = dir + "/ircd.db"
c["lock-file"] = dir + "/ircd.lock"
c["languages"]["enabled"] = False
yaml.safe_dump(c, sys.stdout)
' "$eport" "$tmp/ergo" >"$tmp/ergo/ergo.yaml"
	"$ERGO" initdb --conf "$tmp/ergo/ergo.yaml" --quiet
	"$ERGO" run --conf "$tmp/ergo/ergo.yaml" --quiet >"$tmp/ergo.log" 2>&1 &
	epid=$!
	pids+=("$epid")
	wait_port "$eport"
	"$tmp/chatbench" "${args[@]}" -addr "127.0.0.1:$eport" -dialect irc -label "ergo$sfx" \
		-pid "$epid" -json "$tmp/$run-9-ergo.json" >/dev/null
	results+=("$tmp/$run-9-ergo.json")
	kill -TERM "$epid" 2>/dev/null || true
	wait "$epid" 2>/dev/null || true
}

sfx=
for run in $(seq "$RUNS"); do
	[ "$RUNS" -gt 1 ] && sfx="#$run"
	run_chatds
	[ -n "$IRC" ] && run_chatd_irc
	if peer ngircd; then run_ngircd; fi
	if peer ergo; then run_ergo; fi
done

report=("$tmp/chatbench" report)
[ -n "$SVG" ] && report+=(-svg "$SVG")
echo "# chatbench ${args[*]}  ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ))"
"${report[@]}" "${results[@]}"
