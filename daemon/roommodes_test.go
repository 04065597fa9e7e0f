package daemon_test

import (
	"fmt"
	"strings"
	"testing"
)

// The room modes through chatd's own protocol: the member limit, invite-
// only, moderated with voice, secret, -n and -t, and room operators.
func TestRoomModeCommand(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol", "dave")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	c := login(t, ts.addr, "carol", "password1")
	d := login(t, ts.addr, "dave", "password1")
	a.do("create den", "create")

	if ev := a.do("roommode", "roommode"); ev.str("modes") != "nt" || fmt.Sprint(ev["limit"]) != "0" || fmt.Sprint(ev.strs("ops")) != "[alice]" {
		t.Fatalf("roommode: %v", ev)
	}
	b.fails("roommode #den +m", "roommode", "not_permitted")
	a.fails("roommode +q", "roommode", "bad_args")
	a.fails("roommode +l 0", "roommode", "bad_args")
	a.fails("roommode +l", "roommode", "bad_args")

	// +l 2: alice and bob fill it; carol is refused until invited.
	if ev := a.do("roommode +l 2", "roommode"); ev.str("change") != "+l 2" || fmt.Sprint(ev["limit"]) != "2" {
		t.Fatalf("roommode +l 2: %v", ev)
	}
	b.do("join den", "join")
	c.fails("join den", "join", "room_full")
	a.do("invite carol", "invite")
	c.do("join den", "join")
	a.do("roommode -l +i", "roommode")
	d.fails("join den", "join", "invite_only")
	// bob is no operator: he cannot invite to an invite-only room.
	b.do("join den", "join")
	b.fails("invite dave", "invite", "not_permitted")

	// +m: only operators and voiced members speak.
	a.do("roommode +m", "roommode")
	b.expect("room", "event", "mode", "room", "den", "mode", "+m", "by", "alice")
	b.fails("say #den hello", "say", "cannot_send")
	if ev := a.do("roommode #den +v bob", "roommode"); ev.str("change") != "+v bob" {
		t.Fatalf("roommode +v bob: %v", ev)
	}
	b.send("say #den hello")
	a.expect("message", "kind", "room", "from", "bob", "text", "hello")
	c.fails("say #den me too", "say", "cannot_send")
	if ev := a.do("roommode", "roommode"); fmt.Sprint(ev.strs("voiced")) != "[bob]" || ev.str("modes") != "imnt" {
		t.Fatalf("roommode after +v: %v", ev)
	}

	// +t (the default): only operators set the topic; +o makes carol one.
	c.send("join den")
	c.expect("ok", "cmd", "join")
	c.fails("topic plans", "topic", "not_permitted")
	a.do("roommode +o carol", "roommode")
	c.do("topic plans", "topic")
	c.do("roommode -m", "roommode")
	b.fails("roommode -o alice", "roommode", "not_permitted")
	// -t: any member sets it.
	a.do("roommode -t", "roommode")
	b.do("topic bob was here", "topic")

	// +s: dave, not in den, does not see it listed; bob does.
	a.do("roommode +s", "roommode")
	if _, ok := d.rooms()["den"]; ok {
		t.Fatal("dave sees the secret room den")
	}
	if ev := d.do("names den", "names"); len(ev.strs("users")) != 0 {
		t.Fatalf("dave sees who is in the secret room den: %v", ev)
	}
	if r, ok := b.rooms()["den"]; !ok || r.members == "" {
		t.Fatal("bob does not see den, a secret room he is in")
	}

	// -n: dave, not in den, speaks to it.
	d.fails("say #den knock knock", "say", "not_in_room")
	a.do("roommode -n", "roommode")
	d.send("say #den knock knock")
	a.expect("message", "kind", "room", "from", "dave", "text", "knock knock")

	// A role ends with the membership.
	b.do("leave den", "leave")
	a.do("roommode -i", "roommode")
	b.do("join den", "join")
	if ev := a.do("roommode", "roommode"); len(ev.strs("voiced")) != 0 || fmt.Sprint(ev.strs("ops")) != "[alice carol]" {
		t.Fatalf("roommode after bob left and came back: %v", ev)
	}
}

// A room ban by mask keeps out whoever it matches, and the mask is listed.
func TestRoomBanMask(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "barry")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	bb := login(t, ts.addr, "barry", "password1")
	a.do("create den", "create")
	if ev := a.do("roomban ba*!*@*", "roomban"); ev.str("mask") != "ba*!*@*" {
		t.Fatalf("roomban mask: %v", ev)
	}
	bb.fails("join den", "join", "not_permitted")
	b.do("join den", "join")
	a.fails("roomunban x*!*@*", "roomunban", "bad_args")
	a.do("roomunban ba*!*@*", "roomunban")
	bb.do("join den", "join")
}

// The modes over IRC: MODE maps onto roommode, with the numerics IRC
// clients know.
func TestIRCRoomModes(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1", "multi-prefix")
	b := ircLogin(t, ts, "bob", "password1")
	c := ircLogin(t, ts, "carol", "password1")
	a.expect(" 005 ", "PREFIX=(ov)@+", "STATUSMSG=@+")
	a.send("JOIN #den")
	a.expect(" 366 alice #den ")

	a.send("MODE #den +int")
	a.expect("MODE #den +i")
	a.send("MODE #den")
	a.expect(" 324 alice #den +int")
	b.send("JOIN #den")
	b.expect(" 473 bob #den ")
	a.send("MODE #den -i+l 1")
	a.expect("MODE #den -i+l 1")
	b.send("JOIN #den")
	b.expect(" 471 bob #den ")
	a.send("MODE #den +l 0")
	a.expect(" 696 alice #den l 0 ")
	a.send("MODE #den -l")
	a.expect("MODE #den -l")
	b.send("JOIN #den")
	b.expect(" 366 bob #den ")
	c.send("JOIN #den")
	c.expect(" 366 carol #den ")

	// +m and +v; the others see the MODE too.
	a.send("MODE #den +m")
	b.expect(":alice!alice@chatd MODE #den +m")
	b.send("PRIVMSG #den :hello")
	b.expect(" 404 bob #den ")
	a.send("MODE #den +v bob")
	a.expect("MODE #den +v bob")
	b.send("PRIVMSG #den :hello again")
	a.expect(":bob!", "PRIVMSG #den :hello again")
	a.send("MODE #den +v alice")
	a.expect("MODE #den +v alice")
	a.send("NAMES #den")
	a.expect(" 353 alice = #den ", "@+alice", "+bob", "carol")
	c.send("NAMES #den")
	c.expect(" 353 carol = #den :@alice +bob carol")
	c.send("MODE #den +m")
	c.expect(" 482 carol #den ")

	// STATUSMSG: @#den reaches the operators only.
	a.send("MODE #den -m+o bob")
	a.expect("MODE #den -m+o bob")
	c.send("PRIVMSG @#den :for the ops")
	a.expect(":carol!", "PRIVMSG @#den :for the ops")
	b.expect(":carol!", "PRIVMSG @#den :for the ops")
	c.send("PRIVMSG #den :for everyone")
	b.expect(":carol!", "PRIVMSG #den :for everyone")

	// A join shows who set the topic and when (333).
	a.send("TOPIC #den :plans")
	a.expect("TOPIC #den plans")
	b.send("PART #den", "JOIN #den")
	b.expect(" 332 bob #den plans")
	b.expect(" 333 bob #den alice ")

	// Bans by mask: listed, and they keep a matching nick out.
	a.send("MODE #den +b dav*!*@*")
	a.expect("MODE #den +b dav*!*@*")
	a.send("MODE #den +b")
	a.expect(" 367 alice #den dav*!*@* alice ")
	a.expect(" 368 alice #den ")

	// +s: a secret room is not listed to those not in it.
	a.send("MODE #den +s")
	a.expect("MODE #den +s")
	ts.addUsers("dave")
	d := ircLogin(t, ts, "dave", "password1")
	d.send("LIST")
	if l := d.expect(" 323 "); strings.Contains(l, "#den") {
		t.Fatalf("LIST: %s", l)
	}
	d.send("JOIN #den")
	d.expect(" 474 dave #den ")
	b.send("LIST")
	b.expect(" 322 bob #den ")
}

// A mode set on one node of a cluster holds on the others: their members
// hear it and their cached flags are dropped.
func TestClusterRoomModesAcrossNodes(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	carol := login(t, n[2].addr, "carol", "password1")
	alice.send("create den")
	alice.expect("ok", "cmd", "create")
	bob.send("join den")
	bob.expect("ok", "cmd", "join")
	// bob's node reads den's flags for this line.
	bob.send("say #den before")
	alice.expect("message", "kind", "room", "text", "before")

	alice.send("roommode +m")
	alice.expect("ok", "cmd", "roommode")
	bob.expect("room", "event", "mode", "mode", "+m", "by", "alice")
	bob.send("say #den muted")
	bob.expectError("say", "cannot_send")
	alice.send("roommode +v bob")
	alice.expect("ok", "cmd", "roommode")
	bob.expect("room", "event", "mode", "mode", "+v bob")
	bob.send("say #den voiced")
	alice.expect("message", "kind", "room", "text", "voiced")

	alice.send("roommode +l 2")
	alice.expect("ok", "cmd", "roommode")
	carol.send("join den")
	carol.expectError("join", "room_full")
	// alice's node cached den too: -m set on n2 by an operator holds there.
	alice.send("roommode +o bob")
	alice.expect("ok", "cmd", "roommode")
	bob.expect("room", "event", "mode", "mode", "+o bob")
	bob.send("roommode -mv bob")
	bob.expect("ok", "cmd", "roommode")
	alice.expect("room", "event", "mode", "mode", "-mv bob")
	carol.send("join den")
	carol.expectError("join", "room_full")
	alice.send("roommode -o bob")
	alice.expect("ok", "cmd", "roommode")
	bob.expect("room", "event", "mode", "mode", "-o bob")
	// bob, no longer voiced or an operator, speaks again: -m held on n1.
	bob.send("say #den free")
	alice.expect("message", "kind", "room", "text", "free")
}
