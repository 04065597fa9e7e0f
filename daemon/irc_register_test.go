package daemon_test

import (
	"encoding/base64"
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
