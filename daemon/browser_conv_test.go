package daemon_test

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"chatd"
	"chatd/internal/browsertest"
)

// waitMarker waits until user's read marker in conv is id.
func waitMarker(t *testing.T, ts *testServer, user, conv, id string) {
	t.Helper()
	var marks map[string]string
	for range 100 {
		var err error
		marks, err = ts.store.ReadMarkers(context.Background(), user)
		if err != nil {
			t.Fatal(err)
		}
		if marks[conv] == id {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s's read marker in %s is %q, want %q (all: %v)", user, conv, marks[conv], id, marks)
}

// TestBrowserConversations: a user in two rooms gets an unread badge for
// the room not on screen, switches to it (it becomes current: lines typed
// go there, the read marker moves), and talks in a private pane that opens
// with the conversation's earlier lines.
func TestBrowserConversations(t *testing.T) {
	b := newBrowser(t)
	ts, web := startWeb(t)
	ts.addUsers("alice", "bob", "carol")
	url := "http://" + web + "/"

	// Before the page: alice joins den and writes to carol.
	carol := login(t, ts.addr, "carol", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	bob.send("create den")
	bob.expect("ok", "cmd", "create")
	bob.send("join lobby")
	bob.expect("ok", "cmd", "join")
	early := login(t, ts.addr, "alice", "password1")
	early.send("join den")
	early.expect("ok", "cmd", "join")
	early.send("send carol an old note")
	early.expect("delivery", "to", "carol", "status", "delivered")
	carol.expect("message", "kind", "private", "text", "an old note")
	early.send("logout")
	early.closed()

	alice := b.Page("alice")
	b.webLogin(alice, url, "alice", "password1")
	b.Do(alice, "alice's page lists her two rooms, den on screen",
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#den" and @aria-selected="true"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#lobby" and @aria-selected="false"]`)),
	)
	var last string
	for i := 1; i <= 3; i++ {
		bob.send(fmt.Sprintf("say #lobby lobby line %d", i))
		last = bob.expect("message", "kind", "room", "room", "lobby", "from", "bob").str("id")
	}
	b.Do(alice, "alice sees a badge of 3 on lobby, none on den",
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#lobby" and @data-unread="3"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#den" and not(@data-unread)]`)),
	)
	b.Do(alice, "alice switches to lobby and answers there",
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="#lobby"]`)),
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-room")]/span[@class="text" and .="lobby line 3"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#lobby" and not(@data-unread)]`)),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="lobby"]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "hi lobby\r"),
	)
	// The marker is at the newest line on screen: her own.
	hi := bob.expect("message", "kind", "room", "room", "lobby", "from", "alice", "text", "hi lobby").str("id")
	if hi <= last {
		t.Fatalf("alice's line has id %q, not after bob's %q", hi, last)
	}
	waitMarker(t, ts, "alice", "#lobby", hi)
	b.Do(alice, "alice goes back to den and talks there",
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="#den"]`)),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="den"]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "hi den\r"),
	)
	bob.expect("message", "kind", "room", "room", "den", "from", "alice", "text", "hi den")

	carol.send("send alice are you there")
	carol.expect("delivery", "to", "alice", "status", "delivered")
	b.Do(alice, "alice gets carol's message in a pane with a badge, and opens it",
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="@carol" and @data-unread="1"]`)),
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="@carol"]`)),
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-history")]/span[@class="text" and .="an old note"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="@carol" and not(@data-unread)]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "yes, here\r"),
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-private") and @data-id]/span[@class="text" and .="yes, here"]`)),
	)
	carol.expect("message", "kind", "private", "from", "alice", "text", "yes, here")
	panes, dup := browsertest.PaneLines(t, alice)
	if want := []string{"an old note", "are you there", "yes, here"}; !reflect.DeepEqual(panes["@carol"], want) {
		t.Errorf("the pane with carol shows %q, want %q", panes["@carol"], want)
	}
	if want := []string{"lobby line 1", "lobby line 2", "lobby line 3", "hi lobby"}; !reflect.DeepEqual(panes["#lobby"], want) {
		t.Errorf("the lobby pane shows %q, want %q", panes["#lobby"], want)
	}
	if want := []string{"hi den"}; !reflect.DeepEqual(panes["#den"], want) {
		t.Errorf("the den pane shows %q, want %q", panes["#den"], want)
	}
	if len(dup) > 0 {
		t.Errorf("ids shown twice: %v", dup)
	}
	b.CheckConsole()
}

// TestBrowserResume: the page's connection drops and stays away while 50
// lines go to its two rooms and 5 private messages come; when the server is
// back the page reconnects and shows exactly those lines, each once, in
// the right panes, with the right badges.
func TestBrowserResume(t *testing.T) {
	b := newBrowser(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	web := ln.Addr().String()
	ln.Close()
	ts, _ := startWeb(t, func(c *chatd.Config) { c.Web.Listen = web })
	ts.addUsers("alice", "bob", "carol")
	url := "http://" + web + "/"

	bob := login(t, ts.addr, "bob", "password1")
	bob.send("create den")
	bob.expect("ok", "cmd", "create")
	carol := login(t, ts.addr, "carol", "password1")

	alice := b.Page("alice")
	b.webLogin(alice, url, "alice", "password1")
	b.Do(alice, "alice joins den",
		chromedp.SendKeys(chromedp.ID("say-input"), "/join den\r"),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#den" and @aria-selected="true"]`)),
	)
	bob.send("say #lobby lobby before")
	bob.expect("message", "room", "lobby", "text", "lobby before")
	bob.send("say #den den before")
	bob.expect("message", "room", "den", "text", "den before")
	carol.send("send alice private before")
	carol.expect("delivery", "to", "alice", "status", "delivered")
	b.Do(alice, "alice reads lobby and carol, then den",
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#lobby" and @data-unread="1"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="@carol" and @data-unread="1"]`)),
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="#lobby"]`)),
		chromedp.WaitVisible(xp(`//span[@class="text" and .="lobby before"]`)),
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="@carol"]`)),
		chromedp.WaitVisible(xp(`//span[@class="text" and .="private before"]`)),
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="#den"]`)),
		chromedp.WaitVisible(xp(`//span[@class="text" and .="den before"]`)),
	)

	// The server goes down; one on the same database but with its web
	// side elsewhere takes the lines while the page cannot connect.
	ts.stop()
	away := ts.cfg
	away.Web.Listen = "127.0.0.1:0"
	mid := startWith(t, away, ts.clock)
	bob = login(t, mid.addr, "bob", "password1")
	var lastDen string
	for i := 1; i <= 25; i++ {
		bob.send(fmt.Sprintf("say #lobby lobby %d", i))
		bob.expect("message", "room", "lobby", "text", fmt.Sprintf("lobby %d", i))
		bob.send(fmt.Sprintf("say #den den %d", i))
		lastDen = bob.expect("message", "room", "den", "text", fmt.Sprintf("den %d", i)).str("id")
	}
	carol = login(t, mid.addr, "carol", "password1")
	for i := 1; i <= 5; i++ {
		carol.send(fmt.Sprintf("send alice missed %d", i))
		carol.expect("delivery", "to", "alice", "status", "stored")
	}
	mid.stop()
	back := startWith(t, ts.cfg, ts.clock)

	b.Do(alice, "alice's page reconnects and catches up",
		chromedp.WaitVisible(xp(`//p[@id="status" and .="Online"]`)),
		chromedp.WaitVisible(xp(`//span[@class="text" and .="den 25"]`)),
		chromedp.WaitReady(xp(`//div[@data-conv="#lobby"]//span[@class="text" and .="lobby 25"]`)),
		chromedp.WaitReady(xp(`//div[@data-conv="@carol"]//span[@class="text" and .="missed 5"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#lobby" and @data-unread="25"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="@carol" and @data-unread="5"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#den" and @aria-selected="true" and not(@data-unread)]`)),
	)
	waitMarker(t, back, "alice", "#den", lastDen)
	panes, dup := browsertest.PaneLines(t, alice)
	want := map[string][]string{
		"#lobby": {"lobby before"},
		"#den":   {"den before"},
		"@carol": {"private before"},
	}
	for i := 1; i <= 25; i++ {
		want["#lobby"] = append(want["#lobby"], fmt.Sprintf("lobby %d", i))
		want["#den"] = append(want["#den"], fmt.Sprintf("den %d", i))
	}
	for i := 1; i <= 5; i++ {
		want["@carol"] = append(want["@carol"], fmt.Sprintf("missed %d", i))
	}
	for conv, lines := range want {
		if !reflect.DeepEqual(panes[conv], lines) {
			t.Errorf("pane %s shows %q,\nwant %q", conv, panes[conv], lines)
		}
	}
	if len(dup) > 0 {
		t.Errorf("ids shown twice: %v", dup)
	}
	// While the server was away the page's tries to connect were refused.
	b.Forgive("ERR_CONNECTION_REFUSED")
	b.CheckConsole()
}
