# Shared by compare.sh and cluster.sh (sourced, not run): a temp directory
# removed at exit with every process the script started, a free loopback
# port, and a wait for a server to listen. Set BENCH_NAME first; it names
# the script in error messages.

tmp=$(mktemp -d)
pids=() # processes to stop at exit
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT [TRIES]: waits up to TRIES tenths of a second (default 100)
# for something to listen on 127.0.0.1:PORT.
wait_port() {
	for _ in $(seq "${2:-100}"); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$BENCH_NAME: nothing listens on port $1" >&2
	return 1
}
