package daemon_test

import (
	"fmt"
	"strings"
	"testing"
)

// historyPage runs a history command and returns its lines and the ok's
// more.
func (c *client) historyPage(line string) ([]event, bool) {
	c.t.Helper()
	c.send(line)
	var out []event
	for {
		ev := c.next()
		switch {
		case ev.str("type") == "message" && ev.str("kind") == "history":
			out = append(out, ev)
		case ev.str("type") == "ok" && ev.str("cmd") == "history":
			if n, _ := ev["count"].(float64); int(n) != len(out) {
				c.t.Fatalf("%s: count %v but %d lines", line, ev["count"], len(out))
			}
			more, ok := ev["more"].(bool)
			if !ok {
				c.t.Fatalf("%s: ok without more: %v", line, ev)
			}
			return out, more
		case ev.str("type") == "error":
			c.t.Fatalf("%s: %v", line, ev)
		}
	}
}

// TestPrivateHistory: private messages, live and stored for an offline
// recipient, are in the conversation of the pair, read from either side in
// order with their ids; nobody else reads them; search finds them.
func TestPrivateHistory(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	var ids []string
	say := func(from *client, to, text, status string) {
		t.Helper()
		from.send("send " + to + " " + text)
		ev := from.expect("delivery", "to", strings.Trim(strings.Fields(to)[0], "("), "status", status)
		ids = append(ids, ev.str("id"))
	}
	say(alice, "bob", "one apple", "delivered")
	say(bob, "alice", "two pears", "delivered")
	say(alice, "bob", "three apples", "delivered")
	bob.send("quit")
	bob.closed()
	say(alice, "bob", "four", "stored")
	say(alice, "(bob carol)", "five apple", "stored")
	bob = login(t, ts.addr, "bob", "password1")
	bob.expect("message", "kind", "offline", "text", "five apple")
	want := "alice:one apple|bob:two pears|alice:three apples|alice:four|alice:five apple"
	for _, c := range []struct {
		who  *client
		conv string
	}{{alice, "@bob"}, {bob, "@ALICE"}} {
		lines, more := c.who.historyPage("history " + c.conv)
		var got []string
		for i, l := range lines {
			got = append(got, l.str("from")+":"+l.str("text"))
			if i < len(ids) && l.str("id") != ids[i] {
				t.Errorf("%s: line %d has id %s, want %s", c.conv, i, l.str("id"), ids[i])
			}
		}
		if strings.Join(got, "|") != want || more {
			t.Errorf("%s: history %q more=%v, want %q", c.conv, got, more, want)
		}
	}
	if lines, _ := alice.historyPage("history @bob after " + ids[2]); len(lines) != 2 || lines[0].str("id") != ids[3] {
		t.Errorf("after: %v", lines)
	}
	lines, _ := alice.historyPage("history @bob 1")
	if len(lines) != 1 || lines[0].str("conversation") != "@bob" || fmt.Sprint(lines[0].strs("to")) != "[bob carol]" {
		t.Errorf("the newest line: %v", lines)
	}

	// Searching a conversation.
	found := alice.historyOf("search @bob apple")
	if len(found) != 2 || found[0].str("text") != "five apple" || found[1].str("text") != "one apple" {
		t.Errorf("search @bob apple: %v", found)
	}

	// carol sees only her own conversation with each of them.
	carol := login(t, ts.addr, "carol", "password1")
	carol.expect("message", "kind", "offline", "text", "five apple")
	if lines, _ := carol.historyPage("history @bob"); len(lines) != 0 {
		t.Errorf("carol reads alice and bob: %v", lines)
	}
	if lines, _ := carol.historyPage("history @alice"); len(lines) != 1 || lines[0].str("text") != "five apple" {
		t.Errorf("carol's conversation with alice: %v", lines)
	}
	carol.fails("history @alice before "+ids[1], "history", "no_such_message")
	carol.fails("history @carol", "history", "self")
	carol.fails("history @nobody", "history", "no_such_user")
	// A locked room's history is for those in it.
	alice.do("create vault secret", "create")
	alice.send("hidden words")
	alice.historyPage("history #vault")
	carol.fails("history #vault", "history", "not_permitted")
	carol.fails("search #vault hidden", "search", "not_permitted")
	carol.fails("history #vault after x", "history", "not_permitted")
	alice.fails("history #vault after nosuchid", "history", "no_such_message")
}

// TestHistoryPaging: before and after walk a conversation in pages with
// more, and together see every line once.
func TestHistoryPaging(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	const total = 250
	for i := range total {
		alice.send(fmt.Sprintf("send bob p%d", i))
	}
	for range total {
		alice.expect("delivery", "to", "bob", "status", "delivered")
	}
	for _, conv := range []string{"@alice", "lobby"} {
		if conv == "lobby" {
			for i := range total {
				bob.send(fmt.Sprintf("r%d", i))
			}
			bob.settle()
		}
		prefix := "p"
		if conv == "lobby" {
			prefix = "r"
		}
		// Backwards from the newest.
		lines, more := bob.historyPage("history " + conv + " 100")
		seen := map[string]int{}
		var order []string
		add := func(ls []event) {
			for _, l := range ls {
				seen[l.str("text")]++
			}
		}
		add(lines)
		for more {
			var page []event
			page, more = bob.historyPage("history " + conv + " before " + lines[0].str("id") + " 100")
			add(page)
			lines = page
		}
		// Forwards from the oldest line of the newest 200.
		first, _ := bob.historyPage("history " + conv + " 200")
		if len(first) != 200 {
			t.Fatalf("%s: history 200 gave %d", conv, len(first))
		}
		var fwd []string
		next, more := bob.historyPage("history " + conv + " after " + first[0].str("id") + " 100")
		fwd = append(fwd, first[0].str("text"))
		for {
			for _, l := range next {
				fwd = append(fwd, l.str("text"))
			}
			if !more {
				break
			}
			next, more = bob.historyPage("history " + conv + " after " + next[len(next)-1].str("id") + " 100")
		}
		for i := range total {
			order = append(order, fmt.Sprintf("%s%d", prefix, i))
			if seen[order[i]] != 1 {
				t.Errorf("%s backwards: %s seen %d times", conv, order[i], seen[order[i]])
			}
		}
		if len(seen) != total {
			t.Errorf("%s backwards: %d lines, want %d", conv, len(seen), total)
		}
		// history 200 starts at line 50; forward paging goes on to the end.
		if strings.Join(fwd, " ") != strings.Join(order[total-200:], " ") {
			t.Errorf("%s forwards: %d lines %v…", conv, len(fwd), fwd[:min(5, len(fwd))])
		}
	}
	// history alone keeps its meaning: the current room.
	if lines, more := bob.historyPage("history 3"); len(lines) != 3 || !more || lines[2].str("text") != fmt.Sprintf("r%d", total-1) {
		t.Errorf("history 3: %v more=%v", lines, more)
	}
	bob.fails("history @alice sideways x", "history", "bad_args")
	bob.fails("history @alice 201", "history", "bad_args")
	bob.fails("history @", "history", "bad_args")
}

// TestClusterPrivateHistoryOnce: a private message to a user on another
// node, and one to a user offline, are in the pair's conversation once,
// read from either node.
func TestClusterPrivateHistoryOnce(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	alice.send("send bob across the nodes")
	alice.expect("delivery", "to", "bob", "status", "delivered")
	bob.expect("message", "kind", "private", "from", "alice", "text", "across the nodes")
	bob.send("send alice and back")
	bob.expect("delivery", "to", "alice", "status", "delivered")
	alice.expect("message", "kind", "private", "from", "bob", "text", "and back")
	alice.send("send carol while you were out")
	alice.expect("delivery", "to", "carol", "status", "stored")
	// Each node writes its own senders' messages; a history command
	// waits for its node's writer, so after one on each node both lines
	// are stored.
	alice.historyPage("history @bob")
	bob.historyPage("history @alice")
	for _, c := range []struct {
		who  *client
		conv string
		want string
	}{{alice, "@bob", "across the nodes|and back"}, {bob, "@alice", "across the nodes|and back"}} {
		lines, _ := c.who.historyPage("history " + c.conv)
		var got []string
		for _, l := range lines {
			got = append(got, l.str("text"))
		}
		if strings.Join(got, "|") != c.want {
			t.Errorf("%s: history %s = %q, want %q", c.who.name, c.conv, got, c.want)
		}
	}
	carol := login(t, n[2].addr, "carol", "password1")
	carol.expect("message", "kind", "offline", "text", "while you were out")
	if lines, _ := carol.historyPage("history @alice"); len(lines) != 1 || lines[0].str("text") != "while you were out" {
		t.Errorf("carol's history @alice: %v", lines)
	}
}
