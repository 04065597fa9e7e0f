package daemon_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"chatd"
	"chatd/internal/browsertest"
)

// browser is a test's headless Chromium (internal/browsertest), with the
// daemon's own steps (webLogin, poll) on top.
type browser struct {
	*browsertest.Browser
	t *testing.T
}

// newBrowser starts Chromium for t: the whole browser part of a test gets
// a minute, each step 20 s.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	return &browser{Browser: browsertest.New(t, 60*time.Second, 20*time.Second), t: t}
}

// clickNow clicks the first node the XPath expression finds, found and
// clicked in one step of the page's script, waiting until there is one.
// The member and room lists are drawn anew on every presence or room
// event, so a node chromedp.Click found a moment before may be gone by
// its click ("Could not find node with given id").
func clickNow(path string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => {
		const n = document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		if (!n) return false;
		n.click();
		return true;
	})()`, path)
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond))
}

// xp is an XPath selector.
func xp(format string, args ...any) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(format, args...))
}

// webLogin logs in through the page's form, with the keyboard.
func (b *browser) webLogin(ctx context.Context, url, name, password string) {
	b.t.Helper()
	b.Do(ctx, name+" logs in",
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("login-name")),
		chromedp.WaitEnabled(chromedp.ID("login-submit")),
		chromedp.SendKeys(chromedp.ID("login-name"), name),
		chromedp.SendKeys(chromedp.ID("login-password"), password+"\r"),
		chromedp.WaitVisible(chromedp.ID("chat-view")),
		chromedp.WaitVisible(xp(`//span[@id="me-name" and starts-with(., %q)]`, name)),
	)
}

// artifactDir is where the test keeps its screenshots.
func artifactDir(t *testing.T) string {
	dir := t.ArtifactDir()
	t.Logf("screenshots go to %s", dir)
	return dir
}

// TestBrowserLockedRoomChat drives the web client in headless Chromium: two
// people log in, one creates a locked room, the other joins it with the
// password, they chat, see each other in the member list and talk
// privately. Any JavaScript error fails the test.
func TestBrowserLockedRoomChat(t *testing.T) {
	b := newBrowser(t)
	ts, web := startWeb(t)
	ts.addUsers("alice", "bob", "carol")
	url := "http://" + web + "/"

	alice := b.Page("alice")
	bob := b.Page("bob")
	b.webLogin(alice, url, "alice", "password1")

	b.Do(alice, "alice creates the locked room den",
		chromedp.SendKeys(chromedp.ID("create-name"), "den"),
		chromedp.SendKeys(chromedp.ID("create-password"), "sesame\r"),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="den"]`)),
		chromedp.WaitVisible(xp(`//tbody[@id="room-list"]/tr[@class="current"]/td[2][.="den"]`)),
	)

	b.webLogin(bob, url, "bob", "password1")
	b.Do(bob, "bob sees den locked, with one user and its owner",
		chromedp.WaitVisible(xp(`//tbody[@id="room-list"]/tr[td[2]="den"][td[1]/img[@alt="locked"]][td[3]="1"][td[4]="alice"]`)),
	)
	b.Do(bob, "bob tries den with a wrong password",
		clickNow(`//tbody[@id="room-list"]//button[.="den"]`),
		chromedp.WaitVisible(chromedp.ID("room-password")),
		chromedp.SendKeys(chromedp.ID("room-password"), "wrong\r"),
		chromedp.WaitVisible(xp(`//span[@id="room-password-name" and contains(., "den (")]`)),
	)
	b.Do(bob, "bob joins den with the password",
		chromedp.SendKeys(chromedp.ID("room-password"), "sesame\r"),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="den"]`)),
		chromedp.WaitVisible(xp(`//ul[@id="member-list"]//button[starts-with(., "alice")]`)),
	)
	b.Do(alice, "alice sees bob in the member list, and two users in den",
		chromedp.WaitVisible(xp(`//ul[@id="member-list"]//button[starts-with(., "bob")]`)),
		chromedp.WaitVisible(xp(`//tbody[@id="room-list"]/tr[td[2]="den"][td[3]="2"]`)),
	)

	b.Do(bob, "bob says hello",
		chromedp.SendKeys(chromedp.ID("say-input"), "hello alice, nice den\r"),
	)
	b.Do(alice, "alice reads it, with time, kind and sender",
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-room")][time][span[@class="kind"]="room"][button[.="bob"]][span[@class="text"]="hello alice, nice den"]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "welcome, bob\r"),
	)
	b.Do(bob, "bob reads the answer",
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-room")][button[.="alice"]][span[@class="text"]="welcome, bob"]`)),
	)

	b.Do(alice, "alice opens a private conversation with bob from the member list",
		clickNow(`//ul[@id="member-list"]//button[starts-with(., "bob")]`),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="@bob" and @aria-selected="true"]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "just between us\r"),
	)
	b.Do(bob, "bob gets it in a conversation of its own",
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="@alice"]`)),
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-private")][button[.="alice"]][span[@class="text"]="just between us"]`)),
	)
	// A typed command goes through as it is.
	b.Do(bob, "bob runs /who",
		chromedp.SendKeys(chromedp.ID("say-input"), "/who\r"),
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice-ok")]/span[@class="text" and contains(., "alice") and contains(., "bob")]`)),
	)

	dir := artifactDir(t)
	b.Do(alice, "alice goes back to the room",
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="#den"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#den" and @aria-selected="true"]`)),
	)
	shot, err := chromedp.Run(alice, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web-client.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}

	// On a phone: the side panels start folded and nothing is wider than
	// the screen.
	carol := b.Page("carol")
	b.Do(carol, "carol's phone", chromedp.EmulateViewport(390, 844))
	b.webLogin(carol, url, "carol", "password1")
	folded, err := chromedp.Run(carol, chromedp.Evaluate[bool](`!document.getElementById("rooms-panel").open && !document.getElementById("members-panel").open`))
	if err != nil || !folded {
		t.Errorf("on a phone the side panels start folded: got %v, %v", folded, err)
	}
	b.Do(bob, "bob broadcasts", chromedp.SendKeys(chromedp.ID("say-input"), "/broadcast dinner is ready\r"))
	b.Do(carol, "carol sees it",
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-broadcast")][button[.="bob"]][span[@class="text"]="dinner is ready"]`)),
	)
	wide, err := chromedp.Run(carol, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if wide {
		t.Error("at 390 px the page scrolls sideways")
	}
	phone, err := chromedp.Run(carol, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("phone screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web-client-phone.png"), phone, 0o644); err != nil {
		t.Fatal(err)
	}
	b.CheckConsole()
}

// TestBrowserRegisterAndReconnect: a new user registers through the page,
// the server restarts under it, and the page reconnects by itself, logs in
// again and goes back to its room. The browser keeps only the user name.
func TestBrowserRegisterAndReconnect(t *testing.T) {
	b := newBrowser(t)
	// A fixed port, so that the restarted server is where the page was.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	web := ln.Addr().String()
	ln.Close()
	ts, _ := startWeb(t, func(c *chatd.Config) { c.Web.Listen = web })
	url := "http://" + web + "/"

	dave := b.Page("dave")
	b.Do(dave, "dave registers",
		chromedp.Navigate(url),
		chromedp.WaitEnabled(chromedp.ID("login-submit")),
		chromedp.SendKeys(chromedp.ID("login-name"), "dave"),
		chromedp.SendKeys(chromedp.ID("login-password"), "longpassword1\r"),
		chromedp.WaitVisible(chromedp.ID("login-repeat")),
		chromedp.SendKeys(chromedp.ID("login-repeat"), "longpassword2\r"),
		chromedp.WaitVisible(xp(`//p[@id="login-error" and contains(., "differ")]`)),
		chromedp.SendKeys(chromedp.ID("login-password"), "longpassword1"),
		chromedp.SendKeys(chromedp.ID("login-repeat"), "longpassword1\r"),
		chromedp.WaitVisible(xp(`//span[@id="me-name" and .="dave"]`)),
		chromedp.SendKeys(chromedp.ID("create-name"), "attic\r"),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="attic"]`)),
	)

	ts = ts.restart()
	ts.addUsers("erin")
	b.Do(dave, "dave's page says it lost the connection, then is back in attic",
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice-error")]/span[contains(., "shutting down")]`)),
		chromedp.WaitVisible(xp(`//p[@id="status" and .="Online"]`)),
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice")]/span[.="You are now in attic."]`)),
	)
	erin := login(t, ts.addr, "erin", "password1")
	erin.send("join attic")
	erin.expect("ok", "cmd", "join")
	b.Do(dave, "dave talks after the reconnect",
		chromedp.WaitVisible(xp(`//ul[@id="member-list"]//button[starts-with(., "erin")]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "back again\r"),
	)
	erin.expect("message", "from", "dave", "text", "back again")

	b.Do(dave, "dave logs out",
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("login-form")),
	)
	erin.expect("presence", "user", "dave", "event", "logout")
	stored, err := chromedp.Run(dave, chromedp.Evaluate[string](
		`JSON.stringify([Object.keys(localStorage), localStorage.getItem("chatd.user"), sessionStorage.length, document.cookie, document.getElementById("login-name").value])`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `[["chatd.user"],"dave",0,"","dave"]`; stored != want {
		t.Errorf("browser storage after logout = %s, want only the name: %s", stored, want)
	}
	// A try to reconnect while the server was down was refused.
	b.Forgive("ERR_CONNECTION_REFUSED")
	b.CheckConsole()
}

// TestBrowserModeration: block and unblock from the member list; only an
// admin gets Kick and Ban, and they work.
func TestBrowserModeration(t *testing.T) {
	b := newBrowser(t)
	ts, web := startWeb(t)
	ts.addUser("root", "password1", true)
	ts.addUsers("bob", "carol")
	url := "http://" + web + "/"

	root := b.Page("root")
	// The admin's page asks before kicking or banning: say yes.
	dialogs := chromedp.Events(root, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(root, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	b.webLogin(root, url, "root", "password1")
	carol := login(t, ts.addr, "carol", "password1")
	bob := b.Page("bob")
	b.webLogin(bob, url, "bob", "password1")

	b.Do(bob, "bob blocks carol from the member list",
		chromedp.Click(chromedp.CSS(`button[aria-label="Block carol"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Unblock carol"]`)),
	)
	carol.send("send bob are you there")
	carol.expect("delivery", "to", "bob", "status", "blocked")
	b.Do(bob, "bob unblocks carol",
		chromedp.Click(chromedp.CSS(`button[aria-label="Unblock carol"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Block carol"]`)),
	)
	carol.send("send bob now?")
	carol.expect("delivery", "to", "bob", "status", "delivered")
	n, err := chromedp.Run(bob, chromedp.Evaluate[int](`document.querySelectorAll('button[aria-label^="Kick "], button[aria-label^="Ban "]').length`))
	if err != nil || n != 0 {
		t.Errorf("bob, no admin, sees %d kick/ban buttons (%v)", n, err)
	}

	b.Do(root, "root kicks carol",
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Kick carol"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="Kick carol"]`)),
	)
	carol.expect("bye", "reason", "kicked")
	// Presence reaches the page up to a presence wave (20 ms) later, and
	// the member list is redrawn then: wait for that, or the click below
	// may land on a button the redraw just replaced.
	b.Do(root, "root sees carol leave",
		chromedp.WaitNotPresent(chromedp.CSS(`button[aria-label="Kick carol"]`)),
	)
	b.Do(root, "root bans bob",
		chromedp.Click(chromedp.CSS(`button[aria-label="Ban bob"]`)),
	)
	b.Do(bob, "bob is shown the login form with the ban",
		chromedp.WaitVisible(xp(`//p[@id="login-error" and contains(., "Disconnected")]`)),
		chromedp.WaitVisible(chromedp.ID("login-form")),
	)
	b.CheckConsole()
}

// TestBrowserNewcomer: what a newcomer to the web page ran into. The rooms
// list follows rooms made by others without a click on Refresh; joining a
// room says so once; an operator's notice is shown; with the view at the
// bottom, the newest line is on screen; and after a reconnect that cannot
// go back to a room with a password, the tab, the input line and the
// server agree on the lobby.
func TestBrowserNewcomer(t *testing.T) {
	b := newBrowser(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	web := ln.Addr().String()
	ln.Close()
	ts, _ := startWeb(t, func(c *chatd.Config) { c.Web.Listen = web })
	ts.addUsers("alice", "erin", "frank")
	url := "http://" + web + "/"

	alice := b.Page("alice")
	b.webLogin(alice, url, "alice", "password1")
	erin := login(t, ts.addr, "erin", "password1")
	erin.send("create attic")
	erin.expect("ok", "cmd", "create")
	erin.send("logout")
	erin.closed()
	b.Do(alice, "alice's rooms list shows attic by itself",
		chromedp.WaitVisible(xp(`//tbody[@id="room-list"]//button[.="attic"]`)),
		clickNow(`//tbody[@id="room-list"]//button[.="attic"]`),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="attic"]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "/who\r"),
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice-ok")]/span[@class="text" and starts-with(., "online")]`)),
	)
	placeholder := func(want string) {
		t.Helper()
		got, err := chromedp.Run(alice, chromedp.Evaluate[string](`document.getElementById("say-input").placeholder`))
		if err != nil || got != want {
			t.Errorf("the input line says %q (%v), want %q", got, err, want)
		}
	}
	placeholder("Message #attic, or /command")
	said, err := chromedp.Run(alice, chromedp.Evaluate[int](
		`[...document.querySelectorAll("#log .notice .text")].filter((e) => /now in attic/i.test(e.textContent)).length`))
	if err != nil || said != 1 {
		t.Errorf("the page said %d times that alice is in attic (%v), want once", said, err)
	}

	if err := ts.store.Notice(context.Background(), "maintenance at noon", "root"); err != nil {
		t.Fatal(err)
	}
	b.Do(alice, "alice sees the operators' notice",
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice")]/span[@class="text" and contains(., "maintenance at noon")]`)),
	)

	frank := login(t, ts.addr, "frank", "password1")
	frank.send("join attic")
	frank.expect("ok", "cmd", "join")
	for i := 1; i <= 80; i++ {
		frank.send(fmt.Sprintf("say line %d of many", i))
	}
	b.Do(alice, "alice gets frank's 80 lines, then her window gets shorter",
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-room")]/span[@class="text" and .="line 80 of many"]`)),
		chromedp.EmulateViewport(1200, 480),
	)
	frank.send("say the newest line")
	b.Do(alice, "alice gets frank's next line",
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-room")]/span[@class="text" and .="the newest line"]`)),
	)
	onScreen, err := chromedp.Run(alice, chromedp.Evaluate[string](`(() => {
		const log = document.getElementById("log");
		const lines = log.querySelectorAll(".pane:not([hidden]) .line");
		const last = lines[lines.length - 1].getBoundingClientRect();
		const box = log.getBoundingClientRect();
		return JSON.stringify({scrolls: log.scrollHeight > log.clientHeight,
			inLog: last.bottom <= box.bottom + 1, inWindow: last.bottom <= window.innerHeight + 1});
	})()`))
	if err != nil || onScreen != `{"scrolls":true,"inLog":true,"inWindow":true}` {
		t.Errorf("the newest line is not on screen: %s %v", onScreen, err)
	}

	b.Do(alice, "alice creates den with a password",
		chromedp.SendKeys(chromedp.ID("create-name"), "den"),
		chromedp.SendKeys(chromedp.ID("create-password"), "sesame\r"),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="den"]`)),
	)
	placeholder("Message #den, or /command")
	ts.restart() // its cleanup stops the new server
	// Still a member of den (PROTOCOL.md 9.3), alice is back in it
	// without its password.
	b.Do(alice, "alice's page reconnects into den",
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice-error")]/span[contains(., "shutting down")]`)),
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice")]/span[contains(., "You are in den")]`)),
		chromedp.WaitVisible(xp(`//p[@id="status" and .="Online"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#den" and @aria-selected="true"]`)),
	)
	placeholder("Message #den, or /command")
	// A try to reconnect while the server was down was refused.
	b.Forgive("ERR_CONNECTION_REFUSED")
	b.CheckConsole()
}
