package daemon_test

import (
	"testing"

	"chatd"
)

// TestIRCMetadata: a user's keys are set, read by another user, shown in
// WHOIS, told to a subscriber who shares a channel, and survive a
// restart; a room's keys are set by its owner only.
func TestIRCMetadata(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	caps := []string{"draft/metadata-3", "batch"}
	a := ircLogin(t, ts, "alice", "password1", caps...)
	b := ircLogin(t, ts, "bob", "password1", caps...)
	a.expect(" 376 alice ")
	b.expect(" 376 bob ")

	b.send("METADATA * SUB display-name avatar")
	b.expect(" 770 bob ", "display-name", "avatar")
	b.expect(" 774 bob *ALL 0 ")

	a.send("METADATA * SET display-name :Alice Liddell")
	a.expect(" 761 alice alice display-name * :Alice Liddell")
	// Both are in the lobby: bob hears of it.
	b.expect(" 761 bob alice display-name * :Alice Liddell")

	b.send("METADATA alice GET display-name color")
	b.expect("BATCH +", " metadata alice")
	b.expect(" 761 bob alice display-name * :Alice Liddell")
	b.expect(" 766 bob alice color ")
	b.send("WHOIS alice")
	b.expect(" 760 bob alice display-name * :Alice Liddell")

	b.send("METADATA alice SET display-name :Not Alice")
	b.expect("FAIL METADATA KEY_NO_PERMISSION alice display-name ")
	b.send("METADATA #lobby SET display-name :Bob's lobby")
	b.expect("FAIL METADATA KEY_NO_PERMISSION #lobby display-name ")
	b.send("METADATA * SET Bad$Key :x")
	b.expect("FAIL METADATA INVALID_KEY Bad$Key ")
	b.send("METADATA nobody LIST")
	b.expect("FAIL METADATA INVALID_TARGET nobody ")

	a.send("JOIN #den")
	a.expect("JOIN #den")
	a.send("METADATA #den SET avatar :https://example.com/den.png")
	a.expect(" 761 alice #den avatar * https://example.com/den.png")
	b.send("METADATA #den LIST")
	b.expect("FAIL METADATA KEY_NO_PERMISSION #den * ")
	b.send("JOIN #den")
	// The join's sync: the room's key and alice's, both subscribed.
	b.expect(" 761 bob #den avatar * https://example.com/den.png")
	b.expect(" 761 bob alice display-name * :Alice Liddell")

	a.send("METADATA * SET display-name")
	a.expect(" 766 alice alice display-name ")
	b.expect(" 766 bob alice display-name ")
	a.send("METADATA * SET pronouns :she/her")
	a.expect(" 761 alice alice pronouns ")

	ts = ts.restart()
	c := ircLogin(t, ts, "alice", "password1", caps...)
	// The registration burst holds the stored keys.
	c.expect("BATCH +", " metadata alice")
	c.expect(" 761 alice alice pronouns * she/her")
	c.expect(" 376 alice ")
	c.send("METADATA #den LIST")
	c.expect(" 761 alice #den avatar * https://example.com/den.png")
}

// TestIRCInvalidUTF8NamesCommand: a line that is not UTF-8 is refused
// with a FAIL that names its command (UTF8ONLY), so a metadata value
// that is not UTF-8 is a FAIL METADATA INVALID_UTF8 and never stored.
func TestIRCInvalidUTF8NamesCommand(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice")
	a := ircLogin(t, ts, "alice", "password1", "draft/metadata-3", "batch")
	a.expect(" 376 alice ")
	a.send("@label=x METADATA * SET display-name :bad \xc3 value")
	a.expect("FAIL METADATA INVALID_UTF8 ")
	a.send("METADATA * GET display-name")
	a.expect(" 766 alice alice display-name ")
}

// TestClusterMetadataCrossesNodes: a key set on one node reaches a
// subscriber on another (the note travels the cluster's event log), and
// a room's key set there is read back here.
func TestClusterMetadataCrossesNodes(t *testing.T) {
	nodes := threeNodes(t, func(c *chatd.Config) { c.IRC.Listen = "127.0.0.1:0" })
	caps := []string{"draft/metadata-3", "batch"}
	a := ircLogin(t, nodes[0], "alice", "password1", caps...)
	b := ircLogin(t, nodes[1], "bob", "password1", caps...)
	a.expect(" 376 alice ")
	b.expect(" 376 bob ")
	b.send("METADATA * SUB display-name avatar")
	b.expect(" 770 bob ")

	a.send("METADATA * SET display-name :Alice on n1")
	a.expect(" 761 alice alice display-name * :Alice on n1")
	b.expect(" 761 bob alice display-name * :Alice on n1")

	b.send("JOIN #den")
	b.expect("JOIN #den")
	a.send("JOIN #den")
	a.expect("JOIN #den")
	b.send("METADATA #den SET avatar :https://example.com/den.png")
	b.expect(" 761 bob #den avatar ")
	a.send("METADATA #den GET avatar")
	a.expect(" 761 alice #den avatar * https://example.com/den.png")
	// bob (subscribed, in #den on n2) hears alice's removal from n1.
	a.send("METADATA * SET display-name")
	a.expect(" 766 alice alice display-name ")
	b.expect(" 766 bob alice display-name ")
}

// TestMetaCommand: the chatd command meta reads and changes the same
// metadata from any transport, and a change made at the telnet prompt
// reaches an IRC subscriber.
func TestMetaCommand(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	b := ircLogin(t, ts, "bob", "password1", "draft/metadata-3", "batch")
	b.expect(" 376 bob ")
	b.send("METADATA * SUB display-name")
	b.expect(" 770 bob display-name")

	alice := login(t, ts.addr, "alice", "password1")
	ev := alice.do("meta set display-name Alice Liddell", "meta")
	if ev.str("target") != "alice" || ev.str("value") != "Alice Liddell" {
		t.Fatalf("meta set answered %v", ev)
	}
	b.expect(" 761 bob alice display-name * :Alice Liddell")

	alice.do("create den", "create")
	alice.do("meta set #den avatar https://example.com/den.png", "meta")
	ev = alice.do("meta #den", "meta")
	if keys, _ := ev["keys"].([]any); len(keys) != 1 {
		t.Fatalf("meta #den answered %v", ev)
	}
	b.send("PRIVMSG chatd :meta set #den avatar mine")
	b.expect("NOTICE bob", "not_permitted")
	b.send("PRIVMSG chatd :meta @alice")
	b.expect("NOTICE bob", "display-name: Alice Liddell")
	alice.fails("meta set Bad$Key x", "meta", "bad_args")
	alice.fails("meta nobody", "meta", "no_such_user")
	alice.do("meta unset display-name", "meta")
	b.expect(" 766 bob alice display-name ")
}

// TestIRCMetadataJoinAndMonitor: a labeled JOIN keeps its label on its
// whole answer, the join's metadata batch nested in it; a monitored user
// coming online is followed by 774 (synchronize later) for a subscriber.
func TestIRCMetadataJoinAndMonitor(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	a := ircLogin(t, ts, "alice", "password1", "draft/metadata-3", "batch")
	a.expect(" 376 alice ")
	a.send("METADATA * SET display-name :Alice Liddell")
	a.expect(" 761 alice alice display-name ")
	a.send("JOIN #den")
	a.expect("JOIN #den")

	b := ircLogin(t, ts, "bob", "password1", "draft/metadata-3", "batch", "labeled-response")
	b.expect(" 376 bob ")
	b.send("METADATA * SUB display-name")
	b.expect(" 770 bob display-name")
	b.send("@label=j1 JOIN #den")
	b.expect("label=j1", "BATCH +", "labeled-response")
	b.expect("BATCH +", " metadata #den")
	b.expect(" 761 bob alice display-name * :Alice Liddell")

	a.send("QUIT")
	a.closed()
	b.send("MONITOR + alice")
	b.expect(" 731 bob alice")
	ircLogin(t, ts, "alice", "password1")
	b.expect(" 730 bob alice!")
	b.expect(" 774 bob alice 0 ")
}
