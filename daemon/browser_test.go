package daemon_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"chatd"
)

// findChromium returns the browser the browser tests drive: $CHATD_CHROMIUM,
// or the Debian chromium that .ci/deps installs.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHATD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("no chromium installed (make deps installs it); skipped in -short mode")
	}
	t.Fatal("the browser test needs chromium: run `make deps` (or set CHATD_CHROMIUM)")
	return ""
}

// browser starts one headless Chromium for a test and collects every
// JavaScript error, uncaught exception and browser log error of its pages.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.NoSandbox, // the tests may run as root in a container
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 760),
	}
	// Bounded: the whole browser part of a test gets a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: bctx}
}

// page opens a tab in a browser context of its own (its own storage, like
// a second person on another machine) and watches its console.
func (b *browser) page(name string) context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // open the tab first, so no event is missed
		b.t.Fatalf("open a tab: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				msg = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg = "exception: " + d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				msg = "browser log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errors = append(b.errors, name+": "+msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		b.t.Fatalf("listen to the console: %v", err)
	}
	return ctx
}

// checkConsole fails the test on any JavaScript error seen so far.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		b.t.Errorf("JavaScript error: %s", e)
	}
}

// do runs actions in a page, failing the test with what was being done.
// Each step gets 20 s; on failure the page's text is logged.
func (b *browser) do(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		b.checkConsole()
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
	}
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
	b.do(ctx, name+" logs in",
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

	alice := b.page("alice")
	bob := b.page("bob")
	b.webLogin(alice, url, "alice", "password1")

	b.do(alice, "alice creates the locked room den",
		chromedp.SendKeys(chromedp.ID("create-name"), "den"),
		chromedp.SendKeys(chromedp.ID("create-password"), "sesame\r"),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="den"]`)),
		chromedp.WaitVisible(xp(`//tbody[@id="room-list"]/tr[@class="current"]/td[2][.="den"]`)),
	)

	b.webLogin(bob, url, "bob", "password1")
	b.do(bob, "bob sees den locked, with one user and its owner",
		chromedp.WaitVisible(xp(`//tbody[@id="room-list"]/tr[td[2]="den"][td[1]/img[@alt="locked"]][td[3]="1"][td[4]="alice"]`)),
	)
	b.do(bob, "bob tries den with a wrong password",
		clickNow(`//tbody[@id="room-list"]//button[.="den"]`),
		chromedp.WaitVisible(chromedp.ID("room-password")),
		chromedp.SendKeys(chromedp.ID("room-password"), "wrong\r"),
		chromedp.WaitVisible(xp(`//span[@id="room-password-name" and contains(., "den (")]`)),
	)
	b.do(bob, "bob joins den with the password",
		chromedp.SendKeys(chromedp.ID("room-password"), "sesame\r"),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="den"]`)),
		chromedp.WaitVisible(xp(`//ul[@id="member-list"]//button[starts-with(., "alice")]`)),
	)
	b.do(alice, "alice sees bob in the member list, and two users in den",
		chromedp.WaitVisible(xp(`//ul[@id="member-list"]//button[starts-with(., "bob")]`)),
		chromedp.WaitVisible(xp(`//tbody[@id="room-list"]/tr[td[2]="den"][td[3]="2"]`)),
	)

	b.do(bob, "bob says hello",
		chromedp.SendKeys(chromedp.ID("say-input"), "hello alice, nice den\r"),
	)
	b.do(alice, "alice reads it, with time, kind and sender",
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-room")][time][span[@class="kind"]="room"][button[.="bob"]][span[@class="text"]="hello alice, nice den"]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "welcome, bob\r"),
	)
	b.do(bob, "bob reads the answer",
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-room")][button[.="alice"]][span[@class="text"]="welcome, bob"]`)),
	)

	b.do(alice, "alice opens a private conversation with bob from the member list",
		clickNow(`//ul[@id="member-list"]//button[starts-with(., "bob")]`),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="@bob" and @aria-selected="true"]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "just between us\r"),
	)
	b.do(bob, "bob gets it in a conversation of its own",
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="@alice"]`)),
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-private")][button[.="alice"]][span[@class="text"]="just between us"]`)),
	)
	// A typed command goes through as it is.
	b.do(bob, "bob runs /who",
		chromedp.SendKeys(chromedp.ID("say-input"), "/who\r"),
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice-ok")]/span[@class="text" and contains(., "alice") and contains(., "bob")]`)),
	)

	dir := artifactDir(t)
	b.do(alice, "alice goes back to the room",
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
	carol := b.page("carol")
	b.do(carol, "carol's phone", chromedp.EmulateViewport(390, 844))
	b.webLogin(carol, url, "carol", "password1")
	folded, err := chromedp.Run(carol, chromedp.Evaluate[bool](`!document.getElementById("rooms-panel").open && !document.getElementById("members-panel").open`))
	if err != nil || !folded {
		t.Errorf("on a phone the side panels start folded: got %v, %v", folded, err)
	}
	b.do(bob, "bob broadcasts", chromedp.SendKeys(chromedp.ID("say-input"), "/broadcast dinner is ready\r"))
	b.do(carol, "carol sees it",
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
	b.checkConsole()
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

	dave := b.page("dave")
	b.do(dave, "dave registers",
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
	b.do(dave, "dave's page says it lost the connection, then is back in attic",
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice-error")]/span[contains(., "shutting down")]`)),
		chromedp.WaitVisible(xp(`//p[@id="status" and .="Online"]`)),
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice")]/span[.="You are now in attic."]`)),
	)
	erin := login(t, ts.addr, "erin", "password1")
	erin.send("join attic")
	erin.expect("ok", "cmd", "join")
	b.do(dave, "dave talks after the reconnect",
		chromedp.WaitVisible(xp(`//ul[@id="member-list"]//button[starts-with(., "erin")]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "back again\r"),
	)
	erin.expect("message", "from", "dave", "text", "back again")

	b.do(dave, "dave logs out",
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
	b.forgive("ERR_CONNECTION_REFUSED")
	b.checkConsole()
}

// TestBrowserModeration: block and unblock from the member list; only an
// admin gets Kick and Ban, and they work.
func TestBrowserModeration(t *testing.T) {
	b := newBrowser(t)
	ts, web := startWeb(t)
	ts.addUser("root", "password1", true)
	ts.addUsers("bob", "carol")
	url := "http://" + web + "/"

	root := b.page("root")
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
	bob := b.page("bob")
	b.webLogin(bob, url, "bob", "password1")

	b.do(bob, "bob blocks carol from the member list",
		chromedp.Click(chromedp.CSS(`button[aria-label="Block carol"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Unblock carol"]`)),
	)
	carol.send("send bob are you there")
	carol.expect("delivery", "to", "bob", "status", "blocked")
	b.do(bob, "bob unblocks carol",
		chromedp.Click(chromedp.CSS(`button[aria-label="Unblock carol"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Block carol"]`)),
	)
	carol.send("send bob now?")
	carol.expect("delivery", "to", "bob", "status", "delivered")
	n, err := chromedp.Run(bob, chromedp.Evaluate[int](`document.querySelectorAll('button[aria-label^="Kick "], button[aria-label^="Ban "]').length`))
	if err != nil || n != 0 {
		t.Errorf("bob, no admin, sees %d kick/ban buttons (%v)", n, err)
	}

	b.do(root, "root kicks carol",
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Kick carol"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="Kick carol"]`)),
	)
	carol.expect("bye", "reason", "kicked")
	// Presence reaches the page up to a presence wave (20 ms) later, and
	// the member list is redrawn then: wait for that, or the click below
	// may land on a button the redraw just replaced.
	b.do(root, "root sees carol leave",
		chromedp.WaitNotPresent(chromedp.CSS(`button[aria-label="Kick carol"]`)),
	)
	b.do(root, "root bans bob",
		chromedp.Click(chromedp.CSS(`button[aria-label="Ban bob"]`)),
	)
	b.do(bob, "bob is shown the login form with the ban",
		chromedp.WaitVisible(xp(`//p[@id="login-error" and contains(., "Disconnected")]`)),
		chromedp.WaitVisible(chromedp.ID("login-form")),
	)
	b.checkConsole()
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

	alice := b.page("alice")
	b.webLogin(alice, url, "alice", "password1")
	erin := login(t, ts.addr, "erin", "password1")
	erin.send("create attic")
	erin.expect("ok", "cmd", "create")
	erin.send("logout")
	erin.closed()
	b.do(alice, "alice's rooms list shows attic by itself",
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
	b.do(alice, "alice sees the operators' notice",
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice")]/span[@class="text" and contains(., "maintenance at noon")]`)),
	)

	frank := login(t, ts.addr, "frank", "password1")
	frank.send("join attic")
	frank.expect("ok", "cmd", "join")
	for i := 1; i <= 80; i++ {
		frank.send(fmt.Sprintf("say line %d of many", i))
	}
	b.do(alice, "alice gets frank's 80 lines, then her window gets shorter",
		chromedp.WaitVisible(xp(`//div[contains(@class,"kind-room")]/span[@class="text" and .="line 80 of many"]`)),
		chromedp.EmulateViewport(1200, 480),
	)
	frank.send("say the newest line")
	b.do(alice, "alice gets frank's next line",
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

	b.do(alice, "alice creates den with a password",
		chromedp.SendKeys(chromedp.ID("create-name"), "den"),
		chromedp.SendKeys(chromedp.ID("create-password"), "sesame\r"),
		chromedp.WaitVisible(xp(`//span[@id="members-room" and .="den"]`)),
	)
	placeholder("Message #den, or /command")
	ts.restart() // its cleanup stops the new server
	// Still a member of den (PROTOCOL.md 9.3), alice is back in it
	// without its password.
	b.do(alice, "alice's page reconnects into den",
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice-error")]/span[contains(., "shutting down")]`)),
		chromedp.WaitVisible(xp(`//div[contains(@class,"notice")]/span[contains(., "You are in den")]`)),
		chromedp.WaitVisible(xp(`//p[@id="status" and .="Online"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#den" and @aria-selected="true"]`)),
	)
	placeholder("Message #den, or /command")
	// A try to reconnect while the server was down was refused.
	b.forgive("ERR_CONNECTION_REFUSED")
	b.checkConsole()
}
