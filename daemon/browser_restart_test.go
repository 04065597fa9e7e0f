package daemon_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"chatd/internal/browsertest"
)

// watchStatus keeps each status line a page shows from now on in
// window.statuses.
var watchStatus = chromedp.Evaluate[chromedp.Void](`window.statuses = [];
	new MutationObserver(() => window.statuses.push(document.getElementById("status").textContent))
		.observe(document.getElementById("status"), {childList: true, characterData: true, subtree: true});`)

// TestBrowserRestart: two people chat in the web page while a third talks
// over telnet; the server tells the pages to reconnect (bye restart, as
// an upgrade does to the sessions it cannot hand over). Both pages say so
// and come back at once by themselves; one of them cannot get through for
// a while, during which the others go on talking in the room and to it
// privately, and the same account logs in elsewhere, so that the page's
// first login when it gets through is refused and tried again. When it is
// back, each page shows every line exactly once, in order, and nothing it
// had shown before a second time.
func TestBrowserRestart(t *testing.T) {
	b := newBrowser(t)
	ts, web := startWeb(t)
	ts.addUsers("alice", "bob", "carol", "dave")
	url := "http://" + web + "/"
	carol := login(t, ts.addr, "carol", "password1")

	// Alice's page goes through a gate the test can close.
	g := newTCPGate(t, web)
	alice := b.Page("alice")
	b.webLogin(alice, "http://"+g.ln.Addr().String()+"/", "alice", "password1")
	carol.expect("presence", "event", "login", "user", "alice")
	bob := b.Page("bob")
	b.webLogin(bob, url, "bob", "password1")
	carol.expect("presence", "event", "login", "user", "bob")

	var lobby []string // what both pages must show in lobby, in order
	// say has the page say text, or carol when page is nil.
	say := func(page context.Context, who, text string) {
		t.Helper()
		if page == nil {
			carol.send(text)
		} else {
			b.Do(page, who+" says "+text, chromedp.SendKeys(chromedp.ID("say-input"), text+"\r"))
		}
		carol.expect("message", "kind", "room", "from", who, "text", text)
		lobby = append(lobby, text)
	}
	say(alice, "alice", "alice before")
	say(bob, "bob", "bob before")
	say(nil, "carol", "carol before")
	carol.send("send alice private before")
	carol.expect("delivery", "to", "alice", "status", "delivered")
	b.Do(alice, "alice sees the lines before and reads carol's",
		chromedp.WaitVisible(xp(`//div[@data-conv="#lobby"]//span[@class="text" and .="carol before"]`)),
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="@carol"]`)),
		chromedp.WaitVisible(xp(`//span[@class="text" and .="private before"]`)),
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="#lobby"]`)),
	)
	b.Do(bob, "bob sees the lines before",
		chromedp.WaitVisible(xp(`//span[@class="text" and .="carol before"]`)),
	)

	// A third page waits at the login form.
	dave := b.Page("dave")
	b.Do(dave, "dave's page shows the login form",
		chromedp.Navigate(url),
		chromedp.WaitEnabled(chromedp.ID("login-submit")),
		chromedp.WaitVisible(xp(`//p[@id="status" and .="Connected"]`)),
		watchStatus,
	)

	// Alice's page cannot reach the server for now.
	g.set(false)
	if n := ts.srv.RestartUnmovable(); n != 3 {
		t.Fatalf("RestartUnmovable told %d sessions, want the 3 pages", n)
	}
	restarting := xp(`//div[contains(@class,"notice-info")]/span[.="Server restarting — reconnecting…"]`)
	b.Do(alice, "alice's page says the server restarts, then that it cannot connect",
		chromedp.WaitVisible(restarting),
		chromedp.WaitVisible(xp(`//p[@id="status" and starts-with(., "Connection lost")]`)),
	)
	// Bob's page is back at once, without the back-off of a lost
	// connection; alice's is not.
	carol.expectPresences("logout", "alice", "logout", "bob", "login", "bob")
	b.Do(bob, "bob's page says the server restarts and is back online",
		chromedp.WaitVisible(restarting),
		chromedp.WaitVisible(xp(`//p[@id="status" and .="Online"]`)),
	)

	// Dave's page is at the login form again, with nothing to complain
	// of, and logs in.
	b.Do(dave, "dave's page says the server restarts and is connected again, with no error",
		chromedp.Poll[chromedp.Void](`window.statuses.includes("Server restarting — reconnecting…") &&
			window.statuses.at(-1) === "Connected" && document.getElementById("login-error").textContent === ""`,
			chromedp.WithPollingInterval(50*time.Millisecond)),
	)
	b.Do(dave, "dave logs in after the restart",
		chromedp.WaitEnabled(chromedp.ID("login-submit")),
		chromedp.SendKeys(chromedp.ID("login-name"), "dave"),
		chromedp.SendKeys(chromedp.ID("login-password"), "password1\r"),
		chromedp.WaitVisible(xp(`//span[@id="me-name" and starts-with(., "dave")]`)),
	)
	carol.expect("presence", "event", "login", "user", "dave")

	for i := 1; i <= 3; i++ {
		say(bob, "bob", fmt.Sprintf("bob while away %d", i))
		say(nil, "carol", fmt.Sprintf("carol while away %d", i))
	}
	carol.send("send alice private while away")
	carol.expect("delivery", "to", "alice", "status", "stored")
	b.Do(bob, "bob's page shows the lines said while alice was away",
		chromedp.WaitVisible(xp(`//span[@class="text" and .="carol while away 3"]`)),
	)

	// Her phone logs in meanwhile, so the page's first login when it is
	// back is refused (already_online, as when the server has not seen
	// the old connection end yet): it tries again later, still logged in
	// as far as the person can tell.
	phone := login(t, ts.addr, "alice", "password1")
	carol.expect("presence", "event", "login", "user", "alice")
	b.Do(alice, "watch alice's status",
		watchStatus,
	)
	g.set(true)
	b.Do(alice, "alice's page gets through, is refused, and waits to try again",
		chromedp.Poll[chromedp.Void](`window.statuses.includes("Connected") && window.statuses.at(-1).startsWith("Connection lost")`,
			chromedp.WithPollingInterval(50*time.Millisecond)),
	)
	phone.send("logout")
	phone.closed()
	carol.expect("presence", "event", "logout", "user", "alice")
	// The page's next try may be up to 10 s away (its back-off).
	b.Do(alice, "alice's page is back and caught up",
		chromedp.WaitVisible(xp(`//p[@id="status" and .="Online"]`)),
		chromedp.WaitVisible(xp(`//div[@data-conv="#lobby"]//span[@class="text" and .="carol while away 3"]`)),
		chromedp.WaitReady(xp(`//div[@data-conv="@carol"]//span[@class="text" and .="private while away"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="@carol" and @data-unread="1"]`)),
	)
	carol.expect("presence", "event", "login", "user", "alice")
	say(alice, "alice", "alice after")
	say(bob, "bob", "bob after")
	say(nil, "carol", "carol after")
	for name, page := range map[string]context.Context{"alice": alice, "bob": bob} {
		b.Do(page, name+"'s page shows the last line",
			chromedp.WaitVisible(xp(`//div[@data-conv="#lobby"]//span[@class="text" and .="carol after"]`)),
		)
		panes, dup := browsertest.PaneLines(t, page)
		if !reflect.DeepEqual(panes["#lobby"], lobby) {
			t.Errorf("%s's lobby pane shows %q,\nwant %q", name, panes["#lobby"], lobby)
		}
		if len(dup) > 0 {
			t.Errorf("%s's page shows ids twice: %v", name, dup)
		}
	}
	// Nothing went wrong on bob's page, and neither page tried to send
	// on the connection that was ending.
	for name, page := range map[string]context.Context{"alice": alice, "bob": bob} {
		errs, err := chromedp.Run(page, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll(".notice-error .text")].map((e) => e.textContent)`))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			if name == "bob" || e != "Connection lost; reconnecting…" {
				t.Errorf("%s's page shows the error %q", name, e)
			}
		}
	}
	panes, _ := browsertest.PaneLines(t, alice)
	if want := []string{"private before", "private while away"}; !reflect.DeepEqual(panes["@carol"], want) {
		t.Errorf("alice's pane with carol shows %q, want %q", panes["@carol"], want)
	}
	// Alice's page tried to connect while the gate was closed.
	b.Forgive("/ws' failed")
	b.CheckConsole()
}
