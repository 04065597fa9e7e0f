package daemon_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd"
)

// Tests of read markers and unread counts (PROTOCOL.md section 9.5).

// markerOf is user's stored marker in conv, waiting a bounded while for it
// to become want (it is stored after the session's output is over).
func markerOf(t *testing.T, ts *testServer, user, conv, want string) string {
	t.Helper()
	var got string
	for range 100 {
		marks, err := ts.store.ReadMarkers(context.Background(), user)
		if err != nil {
			t.Fatal(err)
		}
		if got = marks[conv]; got == want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return got
}

// read moves the marker, tells the session, never moves back, survives a
// new login, and refuses ids that are no message of the conversation.
func TestReadMarker(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	var ids []string
	for i := range 3 {
		alice.send(fmt.Sprintf("line %d", i))
		ids = append(ids, idOf(t, bob.expect("message", "kind", "room", "text", fmt.Sprintf("line %d", i))))
	}
	bob.send("read #LOBBY " + ids[1])
	bob.expect("read", "conversation", "#lobby", "id", ids[1])
	ok := bob.expect("ok", "cmd", "read", "conversation", "#lobby", "id", ids[1])
	if ok["moved"] != true {
		t.Fatalf("the first read did not move: %v", ok)
	}
	// Back: accepted, nothing moves, the answer says where it is.
	bob.send("read lobby " + ids[0])
	ok = bob.expectNext("ok", "cmd", "read", "conversation", "#lobby", "id", ids[1])
	if ok["moved"] != false {
		t.Fatalf("a read of an older id moved: %v", ok)
	}
	// A private conversation's marker takes an id of that conversation:
	// not a room line's, nor one the server never gave.
	alice.send("send bob psst")
	alice.expect("delivery", "to", "bob")
	pid := idOf(t, bob.expect("message", "kind", "private", "text", "psst"))
	for _, bad := range []string{"lobby 00000000000000ff", "lobby no/such", "@alice " + strings.Repeat("f", 16), "@alice " + ids[2]} {
		bob.send("read " + bad)
		bob.expectNext("error", "cmd", "read", "code", "no_such_message")
	}
	bob.send("read nosuch " + ids[2])
	bob.expectNext("error", "cmd", "read", "code", "no_such_room")
	bob.send("read @nobody " + ids[2])
	bob.expectNext("error", "cmd", "read", "code", "no_such_user")
	bob.send("read lobby")
	bob.expectNext("error", "cmd", "read", "code", "bad_args")
	bob.send("read @Alice " + pid)
	bob.expect("read", "conversation", "@alice", "id", pid)
	bob.expect("ok", "cmd", "read", "conversation", "@alice")

	bob.send("logout")
	bob.closed()
	bob = login(t, ts.addr, "bob", "password1")
	bob.send("read lobby " + ids[0])
	bob.expect("ok", "cmd", "read", "id", ids[1])
	bob.send("unread")
	u := bob.expectNext("ok", "cmd", "unread")
	if got := fmt.Sprint(u["unread"]); got != "[map[conversation:#lobby count:1 more:false]]" {
		t.Fatalf("unread after reading up to the second of three lines: %s", got)
	}
}

// The welcome and unread count what others said after the marker, not
// what I said.
func TestUnreadCounts(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	alice.send("one")
	first := idOf(t, bob.expect("message", "kind", "room", "text", "one"))
	bob.send("read lobby " + first)
	bob.expect("ok", "cmd", "read")
	bob.send("logout")
	bob.closed()
	for _, l := range []string{"two", "three", "four"} {
		alice.send(l)
		alice.expect("message", "kind", "room", "text", l)
	}
	alice.send("unread")
	if u := alice.expect("ok", "cmd", "unread"); fmt.Sprint(u["unread"]) != "[]" {
		t.Fatalf("alice's own lines count as unread: %v", u)
	}
	bob = dial(t, ts.addr)
	bob.send("bob")
	bob.expectNext("prompt", "field", "password")
	bob.send("password1")
	w := bob.expect("welcome", "user", "bob")
	if got := fmt.Sprint(w["unread"]); got != "[map[conversation:#lobby count:3 more:false]]" {
		t.Fatalf("welcome unread = %s", got)
	}
}

// A text-mode session moves the marker past each line it is shown, stored
// by the time it logs out; a JSON session's marker stays.
func TestReadMarkerTextMode(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	carol := login(t, ts.addr, "carol", "password1")
	bob.send("mode text")
	for {
		l, err := bob.readLine(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(l, "output mode is now text") {
			break
		}
	}
	var last string
	for i := range 3 {
		alice.send(fmt.Sprintf("hello %d", i))
		last = idOf(t, carol.expect("message", "kind", "room", "text", fmt.Sprintf("hello %d", i)))
	}
	alice.send("send bob psst")
	priv := idOf(t, alice.expect("delivery", "to", "bob"))
	for {
		l, err := bob.readLine(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(l, "psst") {
			break
		}
	}
	bob.send("logout")
	bob.closed()
	carol.send("logout")
	carol.closed()
	if got := markerOf(t, ts, "bob", "#lobby", last); got != last {
		t.Fatalf("bob's lobby marker after text mode showed %s: %q", last, got)
	}
	if got := markerOf(t, ts, "bob", "@alice", priv); got != priv {
		t.Fatalf("bob's marker with alice after text mode showed %s: %q", priv, got)
	}
	if got := markerOf(t, ts, "carol", "#lobby", ""); got != "" {
		t.Fatalf("a JSON session moved its marker to %q", got)
	}
}

// A marker moved on one device shows on the user's other devices, and
// the unread count each device then asks for agrees.
func TestReadMarkerAcrossDevices(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Accounts.DuplicateLogin = "multi" })
	ts.addUsers("alice", "bob")
	phone := login(t, ts.addr, "bob", "password1")
	laptop := login(t, ts.addr, "bob", "password1")
	alice := login(t, ts.addr, "alice", "password1")
	var last string
	for i := range 3 {
		alice.send(fmt.Sprintf("line %d", i))
		last = idOf(t, laptop.expect("message", "kind", "room", "text", fmt.Sprintf("line %d", i)))
		phone.expect("message", "kind", "room", "text", fmt.Sprintf("line %d", i))
	}
	phone.send("read lobby " + last)
	phone.expect("ok", "cmd", "read", "id", last)
	laptop.expect("read", "conversation", "#lobby", "id", last)
	for _, c := range []*client{phone, laptop} {
		c.send("unread")
		if got := fmt.Sprint(c.expect("ok", "cmd", "unread")["unread"]); got != "[]" {
			t.Fatalf("unread after reading everything: %s", got)
		}
	}
}
