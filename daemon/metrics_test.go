package daemon_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatd"
)

// scrape reads /metrics into series -> value, the series written as in the
// exposition format: name{label="value",...}.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics drives real traffic over TCP and checks that every counter
// moved by exactly what the test did, and that the gauges, histograms and
// /healthz tell the truth.
func TestMetrics(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Metrics.Listen = "127.0.0.1:0"
		// The scrapes' keep-alive socket counts against the address
		// too: with it, eight chat connections fill the cap.
		c.Server.MaxConnectionsPerIP = 9
		c.Rate.LinesPerSecond = 0.001
		c.Rate.Burst = 20
	})
	maddr := ts.srv.MetricsAddr().String()
	ts.addUsers("alice", "bob", "carol", "erin", "frank")
	before := scrape(t, maddr)
	if before[`chatd_users_online`] != 0 || before[`go_goroutines`] == 0 || before[`process_open_fds`] == 0 {
		t.Fatalf("at start: users %v, go_goroutines %v, process_open_fds %v",
			before[`chatd_users_online`], before[`go_goroutines`], before[`process_open_fds`])
	}

	// Eight connections fill the per-address cap; the ninth is refused.
	var raw []*client
	for range 8 {
		raw = append(raw, dial(t, ts.addr))
	}
	refused := dialRaw(t, ts.addr)
	if line, err := refused.readLine(5 * time.Second); err != nil || !strings.Contains(line, "server_busy") {
		t.Fatalf("ninth connection: %q %v", line, err)
	}
	for _, c := range raw {
		c.conn.Close()
	}
	waitSeries(t, maddr, `chatd_connections_open{listener="plain"}`, 0)

	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	dave := register(t, ts.addr, "dave", "password1")
	carol := dial(t, ts.addr)
	carol.name = "carol"
	for _, want := range []string{"bad_credentials", "bad_credentials", "locked_out"} {
		carol.send("carol", "wrong-password")
		carol.expectError("login", want)
	}
	ban := chatd.Ban{User: "erin", Reason: "test", By: "test", Created: time.Now()}
	if err := ts.store.Ban(context.Background(), ban); err != nil {
		t.Fatal(err)
	}
	erin := dial(t, ts.addr)
	erin.send("erin", "password1")
	erin.expectError("login", "banned")

	alice.send("say hi all")
	bob.expect("message", "kind", "room")
	alice.send("broadcast hear ye")
	bob.expect("message", "kind", "broadcast")
	alice.send("send bob psst")
	alice.expect("delivery", "to", "bob", "status", "delivered")
	alice.send("send frank later")
	alice.expect("delivery", "to", "frank", "status", "stored")
	alice.send("send (bob nosuchuser) both")
	alice.expect("delivery", "to", "nosuchuser", "status", "no_such_user")
	frank := login(t, ts.addr, "frank", "password1")
	frank.expect("message", "kind", "offline")

	// dave has a burst of 20 lines after login, then rate_limited.
	lines := make([]string, 23)
	for i := range lines {
		lines[i] = "time"
	}
	dave.send(lines...)
	for range 3 {
		dave.expectError("time", "rate_limited")
	}

	if _, err := ts.srv.Reload(ts.cfg); err != nil {
		t.Fatal(err)
	}
	ts.srv.ReloadFailed()

	waitSeries(t, maddr, `chatd_offline_delivered_total`, 1)
	after := scrape(t, maddr)
	moved := func(series string) float64 { return after[series] - before[series] }
	for series, want := range map[string]float64{
		`chatd_connections_refused_total{reason="per_ip"}`:        1,
		`chatd_logins_total{result="ok"}`:                         4, // alice, bob, dave, frank
		`chatd_logins_total{result="registered"}`:                 1,
		`chatd_logins_total{result="bad_credentials"}`:            2,
		`chatd_logins_total{result="locked_out"}`:                 1,
		`chatd_logins_total{result="banned"}`:                     1,
		`chatd_messages_total{kind="room"}`:                       1,
		`chatd_messages_total{kind="broadcast"}`:                  1,
		`chatd_messages_total{kind="private"}`:                    3,
		`chatd_deliveries_total{status="delivered"}`:              2,
		`chatd_deliveries_total{status="stored"}`:                 1,
		`chatd_deliveries_total{status="no_such_user"}`:           1,
		`chatd_offline_stored_total`:                              1,
		`chatd_offline_delivered_total`:                           1,
		`chatd_rate_limited_lines_total`:                          3,
		`chatd_reloads_total{result="ok"}`:                        1,
		`chatd_reloads_total{result="error"}`:                     1,
		`chatd_argon2_wait_seconds_count`:                         8, // 7 checks, 1 new hash
		`chatd_slow_client_disconnects_total`:                     0,
		`chatd_connections_refused_total{reason="full"}`:          0,
		`chatd_logins_total{result="server_busy"}`:                0,
		`chatd_deliveries_total{status="blocked"}`:                0,
		`chatd_deliveries_total{status="mailbox_full"}`:           0,
		`chatd_connections_refused_total{reason="shutting_down"}`: 0,
	} {
		if got := moved(series); got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	// Gauges: who is here now (carol and erin were turned away; carol's
	// connection is still open at the prompt, erin's was closed).
	if after[`chatd_users_online`] != 4 {
		t.Errorf("chatd_users_online = %v, want 4", after[`chatd_users_online`])
	}
	if got := after[`chatd_connections_open{listener="plain"}`]; got != 5 {
		t.Errorf("chatd_connections_open{plain} = %v, want 5 (four users and carol at the prompt)", got)
	}
	for _, op := range []string{"user_by_name", "record_attempt", "store_offline", "ban_of"} {
		if moved(`chatd_db_operation_seconds_count{op="`+op+`"}`) == 0 {
			t.Errorf("no %s operation timed", op)
		}
	}

	// The Grafana dashboard asks only for series the server has.
	dash, err := os.ReadFile("../contrib/grafana/chatd.json")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for series := range after {
		names[strings.SplitN(series, "{", 2)[0]] = true
	}
	for _, name := range regexp.MustCompile(`\b(chatd|process|go)_[a-z0-9_]+`).FindAllString(string(dash), -1) {
		if !names[name] {
			t.Errorf("the dashboard uses %s, which /metrics does not have", name)
		}
	}

	resp, err := http.Get("http://" + maddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz with the database up: %s", resp.Status)
	}
	ts.store.Close() // the database stops answering
	resp, err = http.Get("http://" + maddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/healthz with the database closed: %s", resp.Status)
	}
	_ = frank
}

// waitSeries scrapes until series has the value want, for counters that move
// just after the event a client sees (a gauge of connections being closed,
// mail deleted once written).
func waitSeries(t *testing.T, addr, series string, want float64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if got := scrape(t, addr)[series]; got == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", series, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The check behind the watchdog and /healthz fails, without hanging, when
// the hub's lock is stuck or the database is gone, so a stuck daemon stops
// pinging systemd.
func TestHealthCheck(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Metrics.Listen = "127.0.0.1:0" })
	check := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return ts.srv.Check(ctx)
	}
	if err := check(); err != nil {
		t.Fatalf("a healthy server fails the check: %v", err)
	}
	release := ts.srv.HoldHub()
	err := check()
	resp, herr := http.Get("http://" + ts.srv.MetricsAddr().String() + "/healthz")
	release()
	if err == nil || !strings.Contains(err.Error(), "hub") {
		t.Fatalf("a stuck hub passes the check: %v", err)
	}
	if herr != nil {
		t.Fatal(herr)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/healthz with a stuck hub: %s", resp.Status)
	}
	if err := check(); err != nil {
		t.Fatalf("the check does not recover: %v", err)
	}
}
