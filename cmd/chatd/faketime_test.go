package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeFakeTime runs chatd serve under CHATD_FAKETIME: the times it
// stamps on a message, live and in history, are the faked clock's, and it
// warns at start that the clock is faked.
func TestServeFakeTime(t *testing.T) {
	c := newCLIWithDB(t)
	c.ok("password-alice\n", "useradd", "alice")
	t.Setenv("CHATD_FAKETIME", "@2031-05-01 12:00:00")
	d := c.serve()
	alice := d.login("alice", "password-alice")
	alice.send("create den", "join den")
	alice.waitFor(5*time.Second, "ok", "cmd", "join")
	alice.send("say hello from the future")
	live := alice.waitFor(5*time.Second, "message", "text", "hello from the future")
	alice.send("history den 5")
	stored := alice.waitFor(5*time.Second, "message", "text", "hello from the future")
	for what, ev := range map[string]map[string]any{"live": live, "history": stored} {
		if ts, _ := ev["ts"].(string); !strings.HasPrefix(ts, "2031-05-01T12:0") {
			t.Errorf("the %s message is stamped %q, want the faked 2031-05-01T12:0x", what, ev["ts"])
		}
	}
	d.terminate()
	if !strings.Contains(d.logs.String(), "level=WARN") || !strings.Contains(d.logs.String(), "CHATD_FAKETIME") {
		t.Errorf("no warning that the clock is faked in:\n%s", d.logs)
	}
}

// TestServeFakeTimeBad refuses to start on a CHATD_FAKETIME it cannot read.
func TestServeFakeTimeBad(t *testing.T) {
	c := newCLIWithDB(t)
	r := c.exec([]string{"CHATD_FAKETIME=next tuesday"}, "", "serve", "-config", c.config)
	if r.code == 0 || !strings.Contains(r.stderr, "CHATD_FAKETIME") {
		t.Fatalf("serve with a bad CHATD_FAKETIME: code %d, stderr %q", r.code, r.stderr)
	}
}
