package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// A web page through a live upgrade, in headless Chromium (as the daemon's
// browser tests drive it: daemon/browser_test.go, whose few helpers this
// file repeats, since test files are not shared between packages).

// upgradeBrowser is one headless Chromium and the JavaScript errors, console
// errors and browser log errors of its pages.
type upgradeBrowser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newUpgradeBrowser(t *testing.T) *upgradeBrowser {
	t.Helper()
	path := os.Getenv("CHATD_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path != "" {
			break
		}
		path, _ = exec.LookPath(name)
	}
	if path == "" {
		t.Fatal("the browser test needs chromium: run `make deps` (or set CHATD_CHROMIUM)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests may run as root in a container
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 760),
	}
	// Bounded: the browser part of the test gets two minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &upgradeBrowser{t: t, ctx: bctx}
}

// page opens a tab with storage of its own and watches its console.
func (b *upgradeBrowser) page(name string) context.Context {
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
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
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

// checkConsole fails the test on any error the pages showed so far.
func (b *upgradeBrowser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		b.t.Errorf("JavaScript error: %s", e)
	}
}

// do runs actions in a page, each step within 30 s; on failure the
// page's text is logged.
func (b *upgradeBrowser) do(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		b.checkConsole()
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
	}
}

// pageLines returns the text of the lines (not the notices) of each
// conversation's pane, and the message ids shown more than once.
func pageLines(t *testing.T, ctx context.Context) (map[string][]string, []string) {
	t.Helper()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const panes = {}, dup = [], seen = new Set();
		for (const p of document.querySelectorAll("#log .pane[data-conv]")) {
			panes[p.dataset.conv] = [...p.querySelectorAll(".line:not(.notice)")].map((l) => {
				if (l.dataset.id) {
					if (seen.has(l.dataset.id)) dup.push(l.dataset.id);
					seen.add(l.dataset.id);
				}
				return l.querySelector(".text").textContent;
			});
		}
		return JSON.stringify({panes, dup});
	})()`))
	if err != nil {
		t.Fatalf("read the panes: %v", err)
	}
	var got struct {
		Panes map[string][]string
		Dup   []string
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("read the panes: %v (%s)", err, raw)
	}
	return got.Panes, got.Dup
}

func byXPath(format string, args ...any) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(format, args...))
}

// TestUpgradeWebPageReconnects: a person in the web page and one over
// telnet chat in the lobby before, during and after chatd upgrade to
// another build. The page cannot move (WebSocket): it is told bye
// restart, says so, reconnects at once by itself and catches up. It then
// shows every line exactly once, in order, and no error; the telnet user,
// who moved, sees each of the page's lines once.
func TestUpgradeWebPageReconnects(t *testing.T) {
	second := secondBinary(t)
	c := newCLIWithDB(t)
	importUsers(c, 2)
	webAddr := freeAddr(t)
	// [web] ends the [server] table startUpgradeDaemon writes.
	d := startUpgradeDaemon(t, c, fmt.Sprintf("[web]\nlisten = %q", webAddr))
	tel := loginAll(t, d.addr, 1)[0]

	b := newUpgradeBrowser(t)
	page := b.page("usr001")
	b.do(page, "usr001 logs in",
		chromedp.Navigate("http://"+webAddr+"/"),
		chromedp.WaitVisible(chromedp.ID("login-name")),
		chromedp.WaitEnabled(chromedp.ID("login-submit")),
		chromedp.SendKeys(chromedp.ID("login-name"), "usr001"),
		chromedp.SendKeys(chromedp.ID("login-password"), "pw-1-secret\r"),
		chromedp.WaitVisible(byXPath(`//span[@id="me-name" and starts-with(., "usr001")]`)),
		chromedp.WaitVisible(byXPath(`//p[@id="status" and .="Online"]`)),
	)
	telFrom := tel.waitFor(0, "usr001", 10*time.Second) // the page's login
	shown := func(what, text string) {
		t.Helper()
		b.do(page, what, chromedp.WaitVisible(byXPath(`//div[@data-conv="#lobby"]//span[@class="text" and .=%q]`, text)))
	}

	var lobby []string // what the page must show in the lobby, in order
	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf("telnet before %d", i)
		tel.write(text + "\n")
		lobby = append(lobby, text)
	}
	shown("the page shows the telnet lines before", "telnet before 3")
	b.do(page, "the page says a line", chromedp.SendKeys(chromedp.ID("say-input"), "page before\r"))
	telFrom = tel.waitFor(telFrom, "<usr001> page before", 10*time.Second)
	lobby = append(lobby, "page before")

	// The telnet user goes on talking, a line every 40 ms, through the
	// upgrade.
	stop := make(chan struct{})
	chatDone := make(chan []string)
	go func() {
		var said []string
		defer func() { chatDone <- said }()
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for k := 1; ; k++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			text := fmt.Sprintf("telnet during %d", k)
			tel.write(text + "\n")
			said = append(said, text)
		}
	}()
	time.Sleep(time.Second)
	telMark := tel.count()
	b.do(page, "watch the page's status",
		chromedp.Evaluate[chromedp.Void](`window.statuses = [];
			new MutationObserver(() => window.statuses.push(document.getElementById("status").textContent))
				.observe(document.getElementById("status"), {childList: true, characterData: true, subtree: true});`),
	)
	d.install2AndUpgrade(second)
	time.Sleep(time.Second)
	close(stop)
	lobby = append(lobby, <-chatDone...)
	if !strings.Contains(d.logs(), "version="+upgradedVersion) {
		t.Fatalf("the new build did not start:\n%s", d.logs())
	}

	b.do(page, "the page says the server restarts and is back online by itself",
		chromedp.WaitVisible(byXPath(`//div[contains(@class,"notice-info")]/span[.="Server restarting — reconnecting…"]`)),
		chromedp.Poll[chromedp.Void](`window.statuses.includes("Server restarting — reconnecting…") &&
			window.statuses.at(-1) === "Online"`, chromedp.WithPollingInterval(50*time.Millisecond)),
	)
	shown("the page shows the last line said during the upgrade", lobby[len(lobby)-1])
	b.do(page, "the page says a line after", chromedp.SendKeys(chromedp.ID("say-input"), "page after\r"))
	tel.waitFor(telFrom, "<usr001> page after", 10*time.Second)
	lobby = append(lobby, "page after")
	tel.write("telnet after\n")
	lobby = append(lobby, "telnet after")
	shown("the page shows the line after", "telnet after")
	time.Sleep(300 * time.Millisecond) // a doubled line would come now

	panes, dup := pageLines(t, page)
	if !reflect.DeepEqual(panes["#lobby"], lobby) {
		t.Errorf("the page's lobby shows %d lines, want %d:\n%q\nwant\n%q", len(panes["#lobby"]), len(lobby), panes["#lobby"], lobby)
	}
	if len(dup) > 0 {
		t.Errorf("the page shows ids twice: %v", dup)
	}
	errs, err := chromedp.Run(page, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll(".notice-error .text")].map((e) => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("the page shows errors: %q", errs)
	}
	b.checkConsole()

	// The telnet user moved: same connection, each of the page's lines
	// once, no welcome.
	if err := tel.readErr(); err != nil {
		t.Fatalf("telnet connection ended: %v", err)
	}
	count := map[string]int{}
	for i, l := range tel.since(0) {
		if i >= telMark && strings.Contains(l.text, "Welcome") {
			t.Errorf("telnet: a welcome after the upgrade: %q", l.text)
		}
		for _, text := range []string{"page before", "page after"} {
			if strings.HasSuffix(l.text, "<usr001> "+text) {
				count[text]++
			}
		}
	}
	if want := map[string]int{"page before": 1, "page after": 1}; !reflect.DeepEqual(count, want) {
		t.Errorf("telnet saw %v, want %v", count, want)
	}
}
