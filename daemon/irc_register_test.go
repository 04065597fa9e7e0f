package daemon_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"chatd"
)

// With [irc] password set, registration needs PASS with it: a missing or
// wrong one is 464 and ERROR, and the connection closes; accounts log in
// with SASL or a second PASS account:password beside it. A server password
// with a ':' is still the server password.
func TestIRCServerPassword(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) {
		c.IRC.Password = "s3cret"
		c.IRC.Guests = true
		c.Accounts.DuplicateLogin = "multi"
	})
	ts.addUsers("alice")

	c := dialIRC(t, ts)
	c.send("PASS s3cret", "NICK guest1", "USER u 0 * :Guest")
	c.expect(" 001 guest1 ")

	refused := func(lines ...string) {
		t.Helper()
		c := dialIRC(t, ts)
		c.send(lines...)
		c.expect(" 464 ")
		c.expect("ERROR :")
		c.closed()
	}
	refused("NICK guest2", "USER u 0 * :Guest")
	refused("PASS nope", "NICK guest2", "USER u 0 * :Guest")
	refused("PASS :s3cret ", "NICK guest2", "USER u 0 * :Guest")
	refused("PASS alice:password1", "NICK alice", "USER u 0 * :Alice")

	c = dialIRC(t, ts)
	c.send("PASS s3cret", "PASS alice:password1", "NICK alice", "USER u 0 * :Alice")
	c.expect(" 001 alice ")

	c = dialIRC(t, ts)
	c.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00password1")))
	c.expect(" 903 ")
	c.send("PASS s3cret", "NICK alice", "USER u 0 * :Alice", "CAP END")
	c.expect(" 001 alice ")

	colon := startIRC(t, func(c *chatd.Config) { c.IRC.Password = "team:pw"; c.IRC.Guests = true })
	c = dialIRC(t, colon)
	c.send("PASS team:pw", "NICK guest3", "USER u 0 * :Guest")
	c.expect(" 001 guest3 ")

	// With none, PASS alone is the nick's account password, as before.
	none := startIRC(t)
	none.addUsers("alice")
	c = dialIRC(t, none)
	c.send("PASS password1", "NICK alice", "USER u 0 * :Alice")
	c.expect(" 001 alice ")
}

// REGISTER before connect (draft/account-registration's before-connect):
// the account is created with the nick and the connection comes in as
// it; the account then logs in with its password anywhere. Each refusal
// has its code, and nothing is created by one.
func TestIRCRegisterBeforeConnect(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice")

	c := dialIRC(t, ts)
	c.send("CAP LS 302")
	c.expect("CAP * LS", "draft/account-registration=before-connect")
	c.send("CAP REQ :draft/account-registration")
	c.expect("CAP * ACK")
	c.send("REGISTER * * password9")
	c.expect("FAIL REGISTER NEED_NICK")
	c.send("NICK newbie", "REGISTER other * password9")
	c.expect("FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK other")
	c.send("REGISTER * * x")
	c.expect("FAIL REGISTER WEAK_PASSWORD")
	if _, err := ts.store.UserByName(context.Background(), "newbie"); chatd.ErrorCode(err) != chatd.ENoSuchUser {
		t.Fatalf("a refused REGISTER created the account: %v", err)
	}
	c.send("REGISTER newbie * password9")
	c.expect("REGISTER SUCCESS newbie")
	c.expect(" 900 ", "newbie")
	c.send("REGISTER * * password9")
	c.expect("FAIL REGISTER ALREADY_AUTHENTICATED")
	c.send("USER u 0 * :Newbie", "CAP END")
	c.expect(" 001 newbie ")
	c.expect("JOIN #lobby")
	c.send("QUIT")
	c.closed()
	ircLogin(t, ts, "newbie", "password9")

	c = dialIRC(t, ts)
	c.send("NICK alice", "REGISTER * * password9")
	c.expect("FAIL REGISTER ACCOUNT_EXISTS alice")

	// Off: the capability has no before-connect, and REGISTER waits for
	// the connection; closed registration: none at all.
	off := startIRC(t, func(c *chatd.Config) { c.IRC.RegisterBeforeConnect = false })
	c = dialIRC(t, off)
	c.send("CAP LS 302")
	if line := c.expect("CAP * LS"); !strings.Contains(line, "draft/account-registration") || strings.Contains(line, "draft/account-registration=") {
		t.Fatalf("CAP LS with before-connect off: %s", line)
	}
	c.send("NICK newbie", "REGISTER * * password9")
	c.expect("FAIL REGISTER COMPLETE_CONNECTION_REQUIRED")
	closed := startIRC(t, func(c *chatd.Config) { c.Accounts.Registration = "closed" })
	c = dialIRC(t, closed)
	c.send("NICK newbie", "REGISTER * * password9")
	c.expect("FAIL REGISTER TEMPORARILY_UNAVAILABLE")

	// With a server password, it comes first.
	pass := startIRC(t, func(c *chatd.Config) { c.IRC.Password = "s3cret" })
	c = dialIRC(t, pass)
	c.send("NICK newbie", "REGISTER * * password9")
	c.expect("FAIL REGISTER TEMPORARILY_UNAVAILABLE")
	c.send("PASS s3cret", "REGISTER * * password9")
	c.expect("REGISTER SUCCESS newbie")
	c.send("USER u 0 * :Newbie")
	c.expect(" 001 newbie ")
}
