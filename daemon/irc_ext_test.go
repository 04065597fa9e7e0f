package daemon_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"chatd"
)

// until reads lines up to one containing every part, failing if a line
// before it contains bad.
func (c *ircClient) until(bad string, parts ...string) string {
	c.t.Helper()
	for {
		line := c.expect()
		if strings.Contains(line, bad) {
			c.t.Fatalf("irc: got %q while waiting for %q", line, parts)
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return line
		}
	}
}

// SETNAME changes the real name WHOIS shows, and is relayed to the
// clients with the capability that share a channel with the user or
// monitor it, never to one without it.
func TestIRCSetname(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol", "dave")
	ts.members("den", "alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1", "setname")
	b := ircLogin(t, ts, "bob", "password1", "setname")
	c := ircLogin(t, ts, "carol", "password1")
	d := ircLogin(t, ts, "dave", "password1", "setname", "extended-monitor")
	d.send("MONITOR + alice")
	d.expect(" 730 dave alice!alice@chatd")
	b.expect(" 366 bob #den ")
	c.expect(" 366 carol #den ")
	a.expect(" 366 alice #den ")

	a.send("SETNAME :Alice Liddell")
	a.expect(":alice!alice@chatd SETNAME :Alice Liddell")
	b.expect(":alice!alice@chatd SETNAME :Alice Liddell")
	d.expect(":alice!alice@chatd SETNAME :Alice Liddell")
	c.send("WHOIS alice")
	c.until("SETNAME", " 311 carol alice ", ":Alice Liddell")
	c.send("WHO #den")
	c.until("SETNAME", " 352 carol #den ", " alice ", "Alice Liddell")

	a.send("SETNAME :")
	a.expect("FAIL SETNAME INVALID_REALNAME")
}

// saslPlain is the AUTHENTICATE argument of SASL PLAIN for name.
func saslPlain(name, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + name + "\x00" + password))
}

// SASL after registration: a guest that authenticates becomes the
// account (its nick changes to the account's name, the guest is gone),
// and an account that authenticates as another moves to it the same way.
// Others see the old user quit and the new one join.
func TestIRCSASLAfterRegistration(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) { c.IRC.Guests = true })
	ts.addUsers("alice", "bob", "carol")
	ts.members("den", "alice", "carol")
	cl := ircLogin(t, ts, "carol", "password1")
	cl.expect(" 366 carol #den ")
	c := dialIRC(t, ts)
	c.send("CAP LS 302", "CAP REQ :sasl", "CAP END", "NICK visitor", "USER u 0 * :Visitor")
	c.expect(" 001 visitor ")
	c.send("JOIN #den")
	c.expect(" 366 visitor #den ")
	cl.expect(":visitor!visitor@chatd JOIN #den")

	c.send("AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + saslPlain("alice", "wrong"))
	c.expect(" 904 visitor ")
	c.send("AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + saslPlain("alice", "password1"))
	c.expect(" 900 visitor ", " alice ")
	c.expect(" 903 visitor ")
	c.expect(":visitor!visitor@chatd PART #den :logged in as alice")
	c.expect(":visitor!visitor@chatd NICK alice")
	c.until(" 001 ", ":alice!alice@chatd JOIN #den")
	c.expect(" 366 alice #den ")
	cl.expect(":visitor!visitor@chatd QUIT :Quit: logged in as alice")
	cl.expect(":alice!alice@chatd JOIN #den")
	// The guest is gone: its name is free again.
	g := dialIRC(t, ts)
	g.send("NICK visitor", "USER u 0 * :v")
	g.expect(" 001 visitor ")

	// Authenticating as oneself changes nothing; as another account,
	// the session moves to it.
	c.send("AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + saslPlain("alice", "password1"))
	c.expect(" 903 alice ")
	c.send("AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + saslPlain("bob", "password1"))
	c.expect(" 903 alice ")
	c.expect(":alice!alice@chatd PART #den :logged in as bob")
	c.expect(":alice!alice@chatd NICK bob")
	c.expect(":bob!bob@chatd JOIN #lobby")
	cl.expect(":alice!alice@chatd QUIT :Quit: logged in as bob")
	c.send("PRIVMSG carol :it is bob now")
	cl.expect(":bob!bob@chatd PRIVMSG carol :it is bob now")
}

// account-notify: a guest that registers its nick is an account now, and
// the clients that see it are told with ACCOUNT.
func TestIRCAccountNotify(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) {
		c.IRC.Guests = true
		c.Accounts.Registration = "open"
	})
	ts.addUsers("alice", "bob")
	a := ircLogin(t, ts, "alice", "password1", "account-notify")
	b := ircLogin(t, ts, "bob", "password1", "account-notify", "extended-monitor")
	b.send("MONITOR + newcomer")
	b.expect(" 731 bob newcomer")
	c := dialIRC(t, ts)
	c.send("NICK newcomer", "USER u 0 * :n")
	c.expect(" 001 newcomer ")
	b.expect(" 730 bob newcomer")
	c.send("JOIN #hall")
	c.expect(" 366 newcomer #hall ")
	a.send("JOIN #hall")
	a.expect(" 366 alice #hall ")
	c.send("REGISTER * * password1")
	c.expect("REGISTER SUCCESS newcomer")
	a.expect(":newcomer!newcomer@chatd ACCOUNT newcomer")
	b.expect(":newcomer!newcomer@chatd ACCOUNT newcomer")
}

// Bot mode: MODE nick +B is the account's bot setting (stored, so the
// next login is a bot too); IRC clients see the bot tag on its lines,
// 335 in WHOIS and B in WHO; `set bot off` (here through the pseudo-user chatd) ends it.
func TestIRCBotMode(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("robot", "alice")
	ts.members("den", "robot", "alice")
	r := ircLogin(t, ts, "robot", "password1")
	r.expect("BOT=B")
	r.send("MODE robot +B")
	r.expect(":robot!robot@chatd MODE robot +B")
	r.send("MODE robot")
	r.expect(" 221 robot +B")
	r.send("QUIT")
	r.closed()

	r = ircLogin(t, ts, "robot", "password1", "echo-message", "message-tags")
	a := ircLogin(t, ts, "alice", "password1", "message-tags")
	a.expect(" 366 alice #den ")
	r.send("PRIVMSG alice :beep", "PRIVMSG #den boop")
	r.expect("bot", ":robot!robot@chatd PRIVMSG alice beep")
	a.expect("bot", ":robot!robot@chatd PRIVMSG alice beep")
	a.expect("bot", ":robot!robot@chatd PRIVMSG #den boop")
	a.send("WHOIS robot")
	a.expect(" 335 alice robot ")
	a.send("WHO #den")
	a.expect(" 352 alice #den ", " robot HB@ ")

	r.send("PRIVMSG chatd :set bot off")
	r.expect("NOTICE robot :bot is now off")
	a.send("WHOIS robot")
	a.until(" 335 ", " 318 alice robot ")
}

// WALLOPS: a server admin's line reaches the IRC connections with +w (and
// comes back to the sender), not those without; a user who is no admin
// is refused.
func TestIRCWallops(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	ts.addUser("root", "password1", true)
	a := ircLogin(t, ts, "alice", "password1")
	b := ircLogin(t, ts, "bob", "password1")
	a.send("MODE alice +w")
	a.expect(":alice!alice@chatd MODE alice +w")
	a.send("MODE alice")
	a.expect(" 221 alice +w")
	b.send("WALLOPS :me too")
	b.expect(" 481 bob ")
	r := ircLogin(t, ts, "root", "password1")
	r.send("WALLOPS :maintenance at noon")
	r.expect(":root!root@chatd WALLOPS :maintenance at noon")
	a.expect(":root!root@chatd WALLOPS :maintenance at noon")
	b.send("PING :x")
	b.until("WALLOPS", "PONG")
}

// LIST takes ELIST's filters: masks, !masks, >n and <n users.
func TestIRCListFilters(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	ts.members("chan1", "alice")
	ts.members("chan2", "alice", "bob")
	a := ircLogin(t, ts, "alice", "password1")
	a.expect("ELIST=CMNTU")
	ircLogin(t, ts, "bob", "password1")
	c := ircLogin(t, ts, "carol", "password1")
	list := func(arg string) string {
		t.Helper()
		c.send("LIST " + arg)
		var got []string
		for {
			line := c.expect()
			if strings.Contains(line, " 323 ") {
				return strings.Join(got, " ")
			}
			if f := strings.Fields(line); len(f) > 3 && f[1] == "322" && strings.HasPrefix(f[3], "#chan") {
				got = append(got, f[3])
			}
		}
	}
	for arg, want := range map[string]string{
		"*an1": "#chan1", "#c*n2": "#chan2", "*an3": "", "#ch*": "#chan1 #chan2",
		"!*an1": "#chan2", "!#ch*": "", ">1": "#chan2", "<2": "#chan1", "<1": "",
		"#ch*,<2": "#chan1", "chan2": "#chan2",
	} {
		if got := list(arg); got != want {
			t.Errorf("LIST %s: %q, want %q", arg, got, want)
		}
	}
}

// KICK takes several nicks: one channel and a list, or as many channels
// as nicks; each kick is its own KICK line.
func TestIRCKickSeveral(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol", "dave", "eve")
	ts.members("den", "alice", "bob", "carol", "dave", "eve")
	a := ircLogin(t, ts, "alice", "password1")
	a.expect("KICK:")
	a.expect(" 366 alice #den ")
	for _, n := range []string{"bob", "carol", "dave"} {
		ircLogin(t, ts, n, "password1")
	}
	e := ircLogin(t, ts, "eve", "password1")
	e.expect(" 366 eve #den ")
	a.send("KICK #den bob,carol :bye")
	e.expect(":alice!alice@chatd KICK #den bob bye")
	e.expect(":alice!alice@chatd KICK #den carol bye")
	a.send("KICK #den,#den dave,nobody :bye")
	e.expect(":alice!alice@chatd KICK #den dave bye")
	a.expect(" 441 alice nobody #den ")
	a.send("KICK #den,#den eve")
	a.expect(" 461 alice KICK ")
}
