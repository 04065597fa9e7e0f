package daemon_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"chatd"
)

// TestBrowserMentionsTyping: bob's typing shows on alice's page and his
// line ends it; his mention of her is highlighted there and counted on her
// second device, which looks at another conversation; a mention made while
// carol read nothing is her page's welcome count, and its button lists it.
func TestBrowserMentionsTyping(t *testing.T) {
	b := newBrowser(t)
	ts, web := startWeb(t, func(c *chatd.Config) {
		c.Accounts.DuplicateLogin = "multi"
		c.Server.MaxConnectionsPerIP = 100 // four pages and a client, all on loopback
	})
	ts.addUsers("alice", "bob", "carol")
	url := "http://" + web + "/"
	carol := login(t, ts.addr, "carol", "password1")

	alice := b.Page("alice")
	alice2 := b.Page("alice2")
	bob := b.Page("bob")
	ready := chromedp.WaitReady(xp(`//main[@id="chat-view" and contains(@data-actions, "typing")]`))
	b.webLogin(alice, url, "alice", "password1")
	b.Do(alice, "alice's page knows typing", ready)
	b.webLogin(alice2, url, "alice", "password1")
	b.Do(alice2, "alice's second page knows typing", ready)
	b.webLogin(bob, url, "bob", "password1")
	b.Do(bob, "bob's page knows typing", ready)

	// alice's second device looks at another conversation: a mention in
	// lobby gets a badge there.
	b.Do(alice2, "alice's second device opens a conversation with carol",
		chromedp.Click(chromedp.CSS(`button[aria-label="Private conversation with carol"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="@carol" and @aria-selected="true"]`)),
	)

	// bob types: alice sees it; his line ends it and marks her.
	b.Do(bob, "bob starts typing", chromedp.SendKeys(chromedp.ID("say-input"), "@alice look"))
	carol.expect("typing", "user", "bob", "conversation", "#lobby")
	b.Do(alice, "alice sees bob typing", chromedp.WaitVisible(xp(`//p[@id="typing" and .="bob is typing…"]`)))
	b.Do(bob, "bob sends the line", chromedp.SendKeys(chromedp.ID("say-input"), " here\r"))
	look := carol.expect("message", "from", "bob", "text", "@alice look here")
	if got := look.strs("mentions"); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("bob's line marks %v, want [alice]", got)
	}
	b.Do(alice, "alice sees the mention highlighted and bob no longer typing",
		chromedp.WaitVisible(xp(`//div[@data-id=%q and contains(@class,"mention")]/span[@class="text" and .="@alice look here"]/mark[contains(@class,"me") and .="@alice"]`, look.str("id"))),
		chromedp.WaitReady(xp(`//p[@id="typing" and .=""]`)),
	)
	b.Do(alice2, "alice's second device counts the mention",
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#lobby" and @data-mentions="1" and contains(@aria-label, "1 mention")]`)),
		chromedp.WaitVisible(xp(`//button[@id="mentions-button" and .="Mentions 1"]`)),
		chromedp.Click(xp(`//div[@id="tabs"]/button[.="#lobby"]`)),
		chromedp.WaitVisible(xp(`//div[@id="tabs"]/button[.="#lobby" and not(@data-mentions)]`)),
	)

	// A mention of carol while she reads nothing: her page's welcome
	// counts it, and the button lists it.
	b.Do(bob, "bob names carol", chromedp.SendKeys(chromedp.ID("say-input"), "@carol ping\r"))
	carol.expect("message", "from", "bob", "text", "@carol ping")
	carolPage := b.Page("carol")
	b.webLogin(carolPage, url, "carol", "password1")
	b.Do(carolPage, "carol's page shows the welcome's mention count and lists them",
		chromedp.WaitVisible(xp(`//button[@id="mentions-button" and .="Mentions 1"]`)),
		chromedp.Click(chromedp.ID("mentions-button")),
		chromedp.WaitNotVisible(chromedp.ID("mentions-button")),
		chromedp.WaitVisible(xp(`//div[contains(@class,"mention")]/span[@class="text" and .="@carol ping"]`)),
	)
	b.CheckConsole()
}
