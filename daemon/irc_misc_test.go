package daemon_test

import "testing"

// User mode +i hides a user from a WHO with a mask, but not from WHO with
// its nick, nor from one who shares a room with it; -i shows it again.
func TestIRCInvisibleWho(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("evan", "shiv")
	e := ircLogin(t, ts, "evan", "password1")
	s := ircLogin(t, ts, "shiv", "password1")
	// Both start in the lobby; they must share no room.
	e.send("PART #lobby")
	e.until("\x00", "PART #lobby")
	s.send("PART #lobby")
	s.until("\x00", "PART #lobby")
	e.send("MODE evan +i")
	e.expect(":evan!evan@chatd MODE evan +i")
	e.send("MODE evan")
	e.expect(" 221 evan +i")

	s.send("WHO eva*")
	s.until(" 352 ", " 315 shiv eva* ")
	s.send("WHO evan")
	s.expect(" 352 shiv * ", " evan H")
	s.expect(" 315 shiv evan ")

	e.send("JOIN #den")
	e.expect(" 366 evan #den ")
	s.send("JOIN #den")
	s.expect(" 366 shiv #den ")
	s.send("WHO eva*")
	s.expect(" 352 shiv * ", " evan H")
	s.expect(" 315 shiv eva* ")

	s.send("PART #den")
	s.expect(" PART #den")
	e.send("MODE evan -i")
	e.expect(":evan!evan@chatd MODE evan -i")
	s.send("WHO eva*")
	s.expect(" 352 shiv * ", " evan H")
	s.expect(" 315 shiv eva* ")
}
