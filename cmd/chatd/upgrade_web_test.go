package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"chatd/internal/browsertest"
)

// A web page through a live upgrade, in headless Chromium, driven as the
// daemon's browser tests drive it (internal/browsertest).

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

	b := browsertest.New(t, 2*time.Minute, 30*time.Second)
	page := b.Page("usr001")
	b.Do(page, "usr001 logs in",
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
		b.Do(page, what, chromedp.WaitVisible(byXPath(`//div[@data-conv="#lobby"]//span[@class="text" and .=%q]`, text)))
	}

	var lobby []string // what the page must show in the lobby, in order
	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf("telnet before %d", i)
		tel.write(text + "\n")
		lobby = append(lobby, text)
	}
	shown("the page shows the telnet lines before", "telnet before 3")
	b.Do(page, "the page says a line", chromedp.SendKeys(chromedp.ID("say-input"), "page before\r"))
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
	b.Do(page, "watch the page's status",
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

	b.Do(page, "the page says the server restarts and is back online by itself",
		chromedp.WaitVisible(byXPath(`//div[contains(@class,"notice-info")]/span[.="Server restarting — reconnecting…"]`)),
		chromedp.Poll[chromedp.Void](`window.statuses.includes("Server restarting — reconnecting…") &&
			window.statuses.at(-1) === "Online"`, chromedp.WithPollingInterval(50*time.Millisecond)),
	)
	shown("the page shows the last line said during the upgrade", lobby[len(lobby)-1])
	b.Do(page, "the page says a line after", chromedp.SendKeys(chromedp.ID("say-input"), "page after\r"))
	tel.waitFor(telFrom, "<usr001> page after", 10*time.Second)
	lobby = append(lobby, "page after")
	tel.write("telnet after\n")
	lobby = append(lobby, "telnet after")
	shown("the page shows the line after", "telnet after")
	time.Sleep(300 * time.Millisecond) // a doubled line would come now

	panes, dup := browsertest.PaneLines(t, page)
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
	b.CheckConsole()

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
