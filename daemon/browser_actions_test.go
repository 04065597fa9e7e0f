package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"chatd"
)

// poll waits until the JavaScript expression is true in a page.
func (b *browser) poll(ctx context.Context, what, expr string) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		b.Fail(ctx, what, err)
	}
}

// acceptDialogs says yes to every confirm() of a page.
func acceptDialogs(ctx context.Context) {
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
}

// TestBrowserMessageActions drives the message actions of the web page:
// alice edits her lines (with Up in the empty input, and with a line's
// Edit button, Escape cancelling), bob replies to one and reacts to it,
// alice's second device adds her reaction, and alice deletes a line.
// Every page (the other user's, the second device) and a client on plain
// TCP see each action, and a page opened afterwards shows the lines as
// they stand. Any JavaScript error fails the test.
func TestBrowserMessageActions(t *testing.T) {
	b := newBrowser(t)
	ts, web := startWeb(t, func(c *chatd.Config) {
		c.Accounts.DuplicateLogin = "multi"
		c.Server.MaxConnectionsPerIP = 100 // four pages and a client, all on loopback
	})
	ts.addUsers("alice", "bob", "carol")
	url := "http://" + web + "/"
	carol := login(t, ts.addr, "carol", "password1")

	alice := b.Page("alice")
	acceptDialogs(alice)
	alice2 := b.Page("alice2")
	bob := b.Page("bob")
	ready := chromedp.WaitReady(xp(`//main[@id="chat-view" and contains(@data-actions, "edit")]`))
	b.webLogin(alice, url, "alice", "password1")
	b.Do(alice, "alice's page knows the actions", ready)
	b.webLogin(alice2, url, "alice", "password1")
	b.Do(alice2, "alice's second page knows the actions", ready)
	b.webLogin(bob, url, "bob", "password1")
	b.Do(bob, "bob's page knows the actions", ready)
	others := map[string]context.Context{"bob": bob, "alice2": alice2}

	b.Do(alice, "alice says hello",
		chromedp.SendKeys(chromedp.ID("say-input"), "hello bob\r"),
	)
	hello := carol.expect("message", "from", "alice", "text", "hello bob").str("id")
	for name, p := range others {
		b.Do(p, name+" sees alice's line", chromedp.WaitVisible(xp(`//div[@data-id=%q]/span[@class="text" and .="hello bob"]`, hello)))
	}

	// Up in the empty input edits her last line.
	b.Do(alice, "alice presses Up",
		chromedp.SendKeys(chromedp.ID("say-input"), kb.ArrowUp),
		chromedp.WaitVisible(chromedp.ID("compose")),
	)
	b.poll(alice, "the input holds her line", `document.getElementById("say-input").value === "hello bob"`)
	b.Do(alice, "alice finishes the edit",
		chromedp.SendKeys(chromedp.ID("say-input"), " again\r"),
		chromedp.WaitNotVisible(chromedp.ID("compose")),
		chromedp.WaitVisible(xp(`//div[@data-id=%q][span[@class="text" and .="hello bob again"]]/span[@class="edited" and .="(edited)"]`, hello)),
	)
	carol.expect("edit", "id", hello, "text", "hello bob again")
	for name, p := range others {
		b.Do(p, name+" sees the edit", chromedp.WaitVisible(xp(`//div[@data-id=%q][span[@class="text" and .="hello bob again"]]/span[@class="edited"]`, hello)))
	}

	// The Edit button of a line; Escape cancels, the second try saves.
	b.Do(alice, "alice says a line with a typo", chromedp.SendKeys(chromedp.ID("say-input"), "a typo lin\r"))
	typo := carol.expect("message", "from", "alice", "text", "a typo lin").str("id")
	edit := xp(`//div[@data-id=%q]//button[@aria-label="Edit your message"]`, typo)
	b.Do(alice, "alice starts to edit it and cancels",
		chromedp.Click(edit),
		chromedp.WaitVisible(chromedp.ID("compose")),
		chromedp.SendKeys(chromedp.ID("say-input"), kb.Escape),
		chromedp.WaitNotVisible(chromedp.ID("compose")),
	)
	b.poll(alice, "Escape empties the input", `document.getElementById("say-input").value === ""`)
	b.Do(alice, "alice edits it with the button",
		chromedp.Click(edit),
		chromedp.WaitVisible(chromedp.ID("compose")),
		chromedp.SendKeys(chromedp.ID("say-input"), "e\r"),
		chromedp.WaitVisible(xp(`//div[@data-id=%q]/span[@class="text" and .="a typo line"]`, typo)),
	)
	carol.expect("edit", "id", typo, "text", "a typo line")
	b.Do(bob, "bob sees that edit", chromedp.WaitVisible(xp(`//div[@data-id=%q]/span[@class="text" and .="a typo line"]`, typo)))

	// bob answers her first line.
	b.Do(bob, "bob replies to alice's first line",
		chromedp.Click(xp(`//div[@data-id=%q]//button[@aria-label="Reply to alice's message"]`, hello)),
		chromedp.WaitVisible(xp(`//span[@id="compose-text" and .="Replying to alice: hello bob again"]`)),
		chromedp.SendKeys(chromedp.ID("say-input"), "welcome back\r"),
		chromedp.WaitNotVisible(chromedp.ID("compose")),
	)
	reply := carol.expect("message", "from", "bob", "text", "welcome back")
	if reply.str("reply_to") != hello {
		t.Fatalf("bob's reply has reply_to %q, want %q", reply.str("reply_to"), hello)
	}
	for name, p := range map[string]context.Context{"alice": alice, "alice2": alice2, "bob": bob} {
		b.Do(p, name+" sees the reply with its quote",
			chromedp.WaitVisible(xp(`//div[@data-id=%q][span[@class="text" and .="welcome back"]]/button[contains(@class,"quote") and .="↪ alice: hello bob again"]`, reply.str("id"))))
	}

	// Reactions: bob picks one, alice's second device adds hers, her
	// first page takes it back.
	reactions := func(format string) chromedp.Search {
		return xp(`//div[@data-id=%q]/div[@class="reactions"]/button[`+format+`]`, hello)
	}
	b.Do(bob, "bob reacts with a thumbs up",
		chromedp.Click(xp(`//div[@data-id=%q]//button[@aria-label="React to alice's message"]`, hello)),
		chromedp.Click(xp(`//div[@data-id=%q]//button[@aria-label="React with 👍"]`, hello)),
		chromedp.WaitVisible(reactions(`.="👍 1" and @aria-pressed="true"`)),
	)
	if ev := carol.expect("reaction", "id", hello, "user", "bob", "reaction", "👍"); ev["on"] != true {
		t.Fatalf("bob's reaction: %v", ev)
	}
	b.Do(alice, "alice sees bob's reaction", chromedp.WaitVisible(reactions(`.="👍 1" and @aria-pressed="false"`)))
	b.Do(alice2, "alice's second device adds hers",
		chromedp.Click(reactions(`.="👍 1"`)),
		chromedp.WaitVisible(reactions(`.="👍 2" and @aria-pressed="true"`)),
	)
	carol.expect("reaction", "id", hello, "user", "alice", "reaction", "👍")
	b.Do(bob, "bob sees two", chromedp.WaitVisible(reactions(`.="👍 2" and @aria-pressed="true"`)))
	b.Do(alice, "alice's first page sees hers and takes it back",
		chromedp.WaitVisible(reactions(`.="👍 2" and @aria-pressed="true"`)),
		chromedp.Click(reactions(`.="👍 2"`)),
		chromedp.WaitVisible(reactions(`.="👍 1" and @aria-pressed="false"`)),
	)
	if ev := carol.expect("reaction", "id", hello, "user", "alice"); ev["on"] != false {
		t.Fatalf("alice's reaction taken back: %v", ev)
	}
	b.Do(alice2, "the second device sees it taken back", chromedp.WaitVisible(reactions(`.="👍 1" and @aria-pressed="false"`)))

	// alice deletes her second line (the page asks first: yes).
	b.Do(alice, "alice deletes a line",
		chromedp.Click(xp(`//div[@data-id=%q]//button[@aria-label="Delete your message"]`, typo)),
	)
	carol.expect("delete", "id", typo, "by", "alice")
	for name, p := range map[string]context.Context{"alice": alice, "alice2": alice2, "bob": bob} {
		b.Do(p, name+" sees the line deleted",
			chromedp.WaitVisible(xp(`//div[@data-id=%q and contains(@class,"deleted")]/span[@class="text" and .="message deleted"]`, typo)))
	}

	// carol's page, opened now, gets the lines as they stand from history.
	carolPage := b.Page("carol")
	b.webLogin(carolPage, url, "carol", "password1")
	b.Do(carolPage, "carol's page shows the history as it stands",
		chromedp.WaitVisible(xp(`//div[@data-id=%q and contains(@class,"kind-history")][span[@class="text" and .="hello bob again"]]/span[@class="edited"]`, hello)),
		chromedp.WaitVisible(reactions(`.="👍 1" and @aria-pressed="false"`)),
		chromedp.WaitVisible(xp(`//div[@data-id=%q and contains(@class,"deleted")]/span[@class="text" and .="message deleted"]`, typo)),
		chromedp.WaitVisible(xp(`//div[@data-id=%q]/button[contains(@class,"quote") and .="↪ alice: hello bob again"]`, reply.str("id"))),
	)
	b.CheckConsole()
}
