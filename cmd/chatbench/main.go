// Command chatbench is chatd's load tool. It drives one workload against a
// chat server on loopback, in chatd's JSON mode or in IRC (so ngircd can run
// the same workload), and reports connect time, deliveries per second,
// latency percentiles and, with -pid, the server's CPU time per delivery and
// memory. `chatbench report` prints several runs side by side and draws
// their latency distributions as one SVG chart.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

type opts struct {
	addr      string
	addrs     []string // addr split at commas: client i uses addrs[i%len]
	dialect   string
	ircAuth   string // -irc-login
	label     string
	workload  string
	clients   int
	senders   int
	messages  int
	devices   int // sessions per account (paced, burst)
	interval  time.Duration
	parallel  int
	sources   int
	pid       string
	room      string
	prefix    string
	password  string
	drain     time.Duration
	settle    time.Duration
	timeout   time.Duration
	jsonOut   string
	profile   string
	echo      bool
	latencies bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chatbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return report(args[1:], out)
	}
	var o opts
	fs := flag.NewFlagSet("chatbench", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:4119", "server address (loopback only); several, comma-separated, spread the clients over the nodes of a cluster")
	fs.StringVar(&o.dialect, "dialect", "chatd", "chatd (JSON mode) or irc")
	fs.StringVar(&o.ircAuth, "irc-login", "", "with -dialect irc, how clients log in: \"\" (a nick, as ngircd takes), pass (PASS name:password) or sasl (SASL PLAIN), as chatd's IRC listener takes")
	fs.StringVar(&o.label, "label", "", "name of this server in reports (default: the dialect)")
	fs.StringVar(&o.workload, "workload", "paced", "paced, burst, idle, join, offline, private, loginstorm or resume")
	fs.IntVar(&o.clients, "clients", 100, "clients (members of the room; accounts for loginstorm)")
	fs.IntVar(&o.senders, "senders", 10, "senders (paced, burst, offline, private) or chatters already online (loginstorm)")
	fs.IntVar(&o.messages, "messages", 100, "messages per sender (resume: lines each client misses per room, at most 200)")
	fs.IntVar(&o.devices, "devices", 1, "paced, burst: sessions each account keeps at once (chatd needs accounts.duplicate_login = \"multi\"); every one of them receives the room")
	fs.DurationVar(&o.interval, "interval", 500*time.Millisecond, "time between a sender's messages (burst: 0)")
	fs.IntVar(&o.parallel, "parallel", 50, "logins in flight at once while setting up")
	fs.IntVar(&o.sources, "sources", 1, "spread clients over this many 127.0.x.y source addresses")
	fs.StringVar(&o.pid, "pid", "", "server process id (comma-separated for several nodes): report their CPU time and memory from /proc, summed")
	fs.StringVar(&o.room, "room", "bench", "room to chat in")
	fs.StringVar(&o.prefix, "prefix", "user", "user names are PREFIX0, PREFIX1, ...")
	fs.StringVar(&o.password, "password", "benchpass1", "password of every bench account (chatd; -irc-login)")
	fs.DurationVar(&o.drain, "drain", 10*time.Second, "how long to wait for the last deliveries")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "measure once the clients received nothing for this long (idle, join; paced and burst start sending then); pause before the storm (loginstorm)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	fs.DurationVar(&loginWait, "login-wait", loginWait, "how long a client waits for the answer to its login or join while no other client gets in either (loginstorm: at least the server's login_timeout)")
	fs.StringVar(&o.jsonOut, "json", "", "also write the result as JSON to this file (for chatbench report)")
	fs.StringVar(&o.profile, "cpuprofile", "", "write the load tool's own CPU profile of the measured part (paced, burst, offline, private) to this file, for go tool pprof")
	fs.BoolVar(&o.latencies, "keep-latencies", true, "keep a sample of the latencies in the JSON result (for the chart)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if o.label == "" {
		o.label = o.dialect
	}
	b := &bench{opts: o}
	switch o.dialect {
	case "chatd":
		b.d, b.echo = chatdJSON{password: o.password, room: o.room}, true
	case "irc":
		b.d = ircDialect{channel: "#" + o.room, auth: o.ircAuth, password: o.password}
	}
	if o.workload == "burst" && !flagSet(fs, "interval") {
		b.interval = 0
	}
	if o.pid != "" {
		b.proc = &proc{}
		for _, w := range strings.Split(o.pid, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(w))
			if err != nil || pid <= 0 {
				return fmt.Errorf("-pid %q: want process ids separated by commas", o.pid)
			}
			b.proc.pids = append(b.proc.pids, pid)
		}
		if _, err := b.proc.cpu(); err != nil {
			return fmt.Errorf("-pid %s: %w", o.pid, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	r := &result{Label: o.label, Workload: o.workload, Clients: o.clients, Senders: o.senders,
		Messages: o.messages, Interval: b.interval.String()}
	if o.devices > 1 {
		r.Devices = o.devices
	}
	var err error
	switch o.workload {
	case "paced", "burst":
		err = b.chat(ctx, r)
	case "idle":
		err = b.idle(ctx, r)
	case "join":
		err = b.join(ctx, r)
	case "offline":
		err = b.offline(ctx, r)
	case "private":
		err = b.private(ctx, r)
	case "loginstorm":
		err = b.loginstorm(ctx, r)
	case "resume":
		err = b.resume(ctx, r)
	case "storm-clients":
		return b.stormClients(ctx) // loginstorm's own: it reads the output
	}
	if err != nil {
		return fmt.Errorf("%s against %s: %w", o.workload, o.addr, err)
	}
	r.BusyRetries = b.busy.Load()
	r.BadLines = b.bad.Load()
	s := b.lat.summary()
	r.P50, r.P90, r.P99, r.Max = ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max)
	if o.latencies {
		r.Latencies = b.lat.spread(500)
	}
	printResults(out, []*result{r})
	if o.jsonOut != "" {
		data, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(o.jsonOut, data, 0o644)
	}
	return nil
}

func (o *opts) check() error {
	o.addrs = strings.Split(o.addr, ",")
	for _, addr := range o.addrs {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("-addr %q: %w", addr, err)
		}
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return fmt.Errorf("-addr %q: cannot resolve %s", addr, host)
		}
		for _, ip := range ips {
			if !ip.IsLoopback() {
				return fmt.Errorf("-addr %q: chatbench only loads servers on loopback (127.0.0.0/8, ::1)", addr)
			}
		}
	}
	switch o.dialect {
	case "chatd", "irc":
	default:
		return fmt.Errorf("-dialect %q: want chatd or irc", o.dialect)
	}
	switch {
	case o.ircAuth != "" && o.ircAuth != "pass" && o.ircAuth != "sasl":
		return fmt.Errorf("-irc-login %q: want pass, sasl or nothing", o.ircAuth)
	case o.ircAuth != "" && o.dialect != "irc":
		return errors.New("-irc-login needs -dialect irc")
	}
	switch o.workload {
	case "paced", "burst", "idle", "join", "loginstorm", "storm-clients":
	case "offline":
		if o.dialect != "chatd" {
			return errors.New("-workload offline needs -dialect chatd: IRC has no offline messages")
		}
	case "resume":
		if o.dialect != "chatd" {
			return errors.New("-workload resume needs -dialect chatd: it asks chatd's history command")
		}
		if o.messages > historyPage {
			return fmt.Errorf("-workload resume: -messages at most %d (one history page per room)", historyPage)
		}
	case "private":
		if o.dialect != "chatd" {
			return errors.New("-workload private needs -dialect chatd: it reads chatd's delivery statuses, which IRC has no equivalent of")
		}
		if o.clients < 2 || o.senders > o.clients {
			return errors.New("-workload private needs -clients of at least 2 and -senders no more than -clients: senders write to the other clients")
		}
	default:
		return fmt.Errorf("-workload %q: want paced, burst, idle, join, offline, private, loginstorm or resume", o.workload)
	}
	if o.clients < 1 || o.senders < 0 || o.messages < 0 || o.parallel < 1 || o.sources < 1 {
		return errors.New("-clients, -parallel and -sources must be at least 1; -senders and -messages at least 0")
	}
	if o.devices < 1 {
		return errors.New("-devices must be at least 1")
	}
	if o.devices > 1 && o.workload != "paced" && o.workload != "burst" {
		return errors.New("-devices: only paced and burst run several sessions per account")
	}
	if o.sources > 65000 {
		return errors.New("-sources: at most 65000")
	}
	if (o.workload == "paced" || o.workload == "burst") && o.senders > o.clients {
		return errors.New("-senders cannot exceed -clients: senders are members of the room")
	}
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
