package daemon_test

import (
	"fmt"
	"testing"
)

// Ban exceptions, invite exceptions, extbans, +C and the invite list
// through chatd's own protocol.
func TestRoomExceptionsCommand(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "barry", "bart", "carol", "dave")
	a := login(t, ts.addr, "alice", "password1")
	barry := login(t, ts.addr, "barry", "password1")
	bart := login(t, ts.addr, "bart", "password1")
	c := login(t, ts.addr, "carol", "password1")
	d := login(t, ts.addr, "dave", "password1")
	a.do("create den", "create")

	// +e: a ban exception lets barry past ba*, not bart.
	a.do("roomban ba*!*@*", "roomban")
	barry.fails("join den", "join", "not_permitted")
	if ev := a.do("roommode +e barry", "roommode"); ev.str("change") != "+e barry!*@*" {
		t.Fatalf("roommode +e barry: %v", ev)
	}
	barry.do("join den", "join")
	bart.fails("join den", "join", "not_permitted")
	a.do("roommode +e barry", "roommode") // already there: no change, no error

	// +I: an invite exception lets carol into the invite-only room; dave
	// needs an invitation, and invite with no name lists it.
	a.do("roommode +i +I c*!*@*", "roommode")
	d.fails("join den", "join", "invite_only")
	c.do("join den", "join")
	if ev := d.do("invites", "invites"); len(ev.strs("rooms")) != 0 {
		t.Fatalf("dave's invitations before any: %v", ev)
	}
	a.do("invite dave", "invite")
	if ev := d.do("invites", "invites"); fmt.Sprint(ev.strs("rooms")) != "[den]" {
		t.Fatalf("dave's invitations: %v", ev)
	}
	d.do("join den", "join")

	// a:account bans an account; m:mask mutes (joins, does not speak)
	// unless a mute exception or voice lets one speak.
	a.do("roomban m:carol", "roomban")
	barry.expect("room", "event", "mode", "mode", "+b m:carol")
	c.fails("say #den hello", "say", "cannot_send")
	a.do("roommode +e m:c*", "roommode")
	c.send("say #den hello")
	a.expect("message", "kind", "room", "from", "carol", "text", "hello")
	a.do("roomban a:bart", "roomban")
	if ev := a.do("roommode", "roommode"); fmt.Sprint(ev.strs("masks")) != "[ba*!*@* m:carol a:bart]" ||
		fmt.Sprint(ev.strs("exceptions")) != "[barry!*@* m:c*]" || fmt.Sprint(ev.strs("invite_exceptions")) != "[c*!*@*]" {
		t.Fatalf("roommode lists: %v", ev)
	}
	a.do("roommode -e barry!*@*", "roommode")
	a.do("roommode -I c*!*@*", "roommode")
	if ev := a.do("roommode", "roommode"); fmt.Sprint(ev.strs("exceptions")) != "[m:c*]" || len(ev.strs("invite_exceptions")) != 0 {
		t.Fatalf("roommode lists after -e -I: %v", ev)
	}

	// +C is a flag like the others.
	if ev := a.do("roommode +C", "roommode"); ev.str("modes") != "Cint" {
		t.Fatalf("roommode +C: %v", ev)
	}
}

// The exceptions over IRC: the ISUPPORT tokens, MODE +e and +I with their
// lists, the mute extban, +C and INVITE's list.
func TestIRCRoomExceptions(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1")
	b := ircLogin(t, ts, "bob", "password1")
	c := ircLogin(t, ts, "carol", "password1")
	a.expect(" 005 ", "CHANMODES=beI,k,l,Cimnst")
	a.expect(" 005 ", "EXCEPTS=e INVEX=I EXTBAN=,am")
	a.send("JOIN #den")
	a.expect(" 366 alice #den ")

	// +b everyone, +e bob's account: bob joins, carol does not.
	a.send("MODE #den +b *!*@*")
	a.expect("MODE #den +b *!*@*")
	a.send("MODE #den +e a:bob")
	a.expect("MODE #den +e a:bob")
	a.send("MODE #den e")
	a.expect(" 348 alice #den a:bob alice ")
	a.expect(" 349 alice #den ")
	b.send("JOIN #den")
	b.expect(" 366 bob #den ")
	c.send("JOIN #den")
	c.expect(" 474 carol #den ")
	a.send("MODE #den -b *!*@*")
	a.expect("MODE #den -b *!*@*")

	// +i with +I carol: carol joins without an invitation.
	a.send("MODE #den +i")
	a.expect("MODE #den +i")
	a.send("MODE #den +I carol!*@*")
	a.expect("MODE #den +I carol!*@*")
	a.send("MODE #den +I")
	a.expect(" 346 alice #den carol!*@* alice ")
	a.expect(" 347 alice #den ")
	c.send("JOIN #den")
	c.expect(" 366 carol #den ")

	// The mute extban: bob stays, and is refused a line until voiced.
	a.send("MODE #den +b m:bob!*@*")
	a.expect("MODE #den +b m:bob!*@*")
	b.send("PRIVMSG #den :hello")
	b.expect(" 404 bob #den ")
	a.send("MODE #den +v bob")
	a.expect("MODE #den +v bob")
	b.send("PRIVMSG #den :hello again")
	c.expect(":bob!", "PRIVMSG #den :hello again")

	// +C: ACTION passes, another CTCP does not.
	c.send("PRIVMSG #den :\x01PING 1\x01")
	b.expect(":carol!", "PRIVMSG #den :\x01PING 1\x01")
	a.send("MODE #den +C")
	a.expect("MODE #den +C")
	c.send("PRIVMSG #den :\x01PING 2\x01")
	c.expect(" 404 carol #den ")
	c.send("PRIVMSG #den :\x01ACTION waves\x01")
	b.expect(":carol!", "PRIVMSG #den :\x01ACTION waves\x01")

	// INVITE with no parameters lists one's invitations.
	ts.addUsers("dave")
	d := ircLogin(t, ts, "dave", "password1")
	d.send("INVITE")
	d.expect(" 337 dave ")
	a.send("INVITE dave #den")
	a.expect(" 341 alice dave #den")
	d.send("INVITE")
	d.expect(" 336 dave #den")
	d.expect(" 337 dave ")
}

// A mute set on one node of a cluster holds on the others (their cached
// room modes carry the mute masks and are dropped with the change), and so
// does its exception; the lists live in PostgreSQL.
func TestClusterMuteAcrossNodes(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	alice.send("create den")
	alice.expect("ok", "cmd", "create")
	bob.send("join den")
	bob.expect("ok", "cmd", "join")
	// bob's node reads den's modes for this line.
	bob.send("say #den before")
	alice.expect("message", "kind", "room", "text", "before")

	alice.send("roomban m:bob")
	alice.expect("ok", "cmd", "roomban")
	bob.expect("room", "event", "mode", "mode", "+b m:bob", "by", "alice")
	bob.send("say #den muted")
	bob.expectError("say", "cannot_send")
	alice.send("roommode +e m:b*")
	alice.expect("ok", "cmd", "roommode")
	bob.expect("room", "event", "mode", "mode", "+e m:b*")
	bob.send("say #den excepted")
	alice.expect("message", "kind", "room", "text", "excepted")
}

// TestIRCMaskMatchesIdent: a mask is matched against the user name an IRC
// connection gave in USER too (as WHO shows it), so +e m:*!*evan@* lifts
// the mute of the user who said USER evan, and of no one else.
func TestIRCMaskMatchesIdent(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "qux", "zed")
	a := ircLogin(t, ts, "alice", "password1")
	q := dialIRC(t, ts)
	q.send("PASS qux:password1", "NICK qux", "USER evan 0 * :Q")
	q.expect(" 001 qux ")
	z := ircLogin(t, ts, "zed", "password1")
	a.send("JOIN #den")
	a.expect(" 366 alice #den ")
	for _, c := range []*ircClient{q, z} {
		c.send("JOIN #den")
		c.expect(" 366 ")
	}
	a.send("MODE #den +b m:*!*@*")
	a.expect("MODE #den +b m:*!*@*")
	q.send("PRIVMSG #den :muted")
	q.expect(" 404 qux #den ")
	a.send("MODE #den +e m:*!*evan@*")
	a.expect("MODE #den +e m:*!*evan@*")
	z.send("PRIVMSG #den :still muted")
	z.expect(" 404 zed #den ")
	q.send("PRIVMSG #den :heard now")
	a.expect(":qux!", "PRIVMSG #den :heard now")
}
