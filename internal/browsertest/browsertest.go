// Package browsertest drives chatd's web page in headless Chromium for the
// tests of several packages (daemon's browser tests, cmd/chatd's upgrade
// through a web page): one browser per test, a tab per person, and every
// JavaScript error, uncaught exception and browser log error of its pages
// collected, so that a test fails on them.
package browsertest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium returns the browser the tests drive: $CHATD_CHROMIUM, or the
// Debian chromium that `make deps` installs. Without one the test fails,
// or is skipped in -short mode.
func Chromium(t *testing.T) string {
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

// Browser is one headless Chromium for a test and the errors its pages
// showed.
type Browser struct {
	t    *testing.T
	ctx  context.Context
	step time.Duration // each Do's bound

	mu     sync.Mutex
	errors []string
}

// New starts Chromium for t, stopped when t ends. The whole browser part
// of the test gets whole; each Do gets step.
func New(t *testing.T, whole, step time.Duration) *Browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium(t)),
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
	ctx, cancel := context.WithTimeout(context.Background(), whole)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &Browser{t: t, ctx: bctx, step: step}
}

// Page opens a tab in a browser context of its own (its own storage, like
// a second person on another machine) and watches its console; name tells
// its errors apart.
func (b *Browser) Page(name string) context.Context {
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

// CheckConsole fails the test on any error the pages showed so far.
func (b *Browser) CheckConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		b.t.Errorf("JavaScript error: %s", e)
	}
}

// Forgive drops the errors seen so far that contain text: those a test
// causes on purpose.
func (b *Browser) Forgive(text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.errors[:0]
	for _, e := range b.errors {
		if !strings.Contains(e, text) {
			kept = append(kept, e)
		}
	}
	b.errors = kept
}

// Do runs actions in a page within the step bound, failing the test with
// what was being done (Fail).
func (b *Browser) Do(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(ctx, b.step)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		b.Fail(ctx, what, err)
	}
}

// Fail ends the test for err while doing what in the page ctx: the
// console's errors, then the page's text.
func (b *Browser) Fail(ctx context.Context, what string, err error) {
	b.t.Helper()
	b.CheckConsole()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	b.t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
}

// PaneLines returns the chat lines (not notices) of every conversation
// pane of a page, by conversation, and the message ids shown more than
// once.
func PaneLines(t *testing.T, ctx context.Context) (map[string][]string, []string) {
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
