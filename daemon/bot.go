// Bots (IRCv3 bot mode, docs/irc.md "Bots"): an account whose `bot`
// setting is on (`set bot on`, or MODE nick +B over IRC) is a bot. The
// flag is stored with the account's settings; every node keeps the bots
// it knows of in Server.bots, learnt from the bot notes that a change of
// the setting and a bot's login tell. IRC shows it: BOT=B in ISUPPORT,
// the bot tag on a bot's messages, 335 in WHOIS and B in WHO's flags.

package daemon

import (
	"context"

	"chatd"
)

// markBot records that name is (on) or is no longer a bot, on every node.
// A login of a bot tells it again, so a node started after the setting
// changed learns it.
func (s *Server) markBot(ctx context.Context, name string, on bool) error {
	return s.effect(ctx, &note{Kind: noteBot, User: name, Flag: on})
}

// setBotHere is noteBot applied on this node.
func (s *Server) setBotHere(name string, on bool) {
	if on {
		s.bots.Store(chatd.Key(name), true)
	} else {
		s.bots.Delete(chatd.Key(name))
	}
}

// isBot reports whether name is a bot, as far as this node knows.
func (s *Server) isBot(name string) bool {
	_, ok := s.bots.Load(chatd.Key(name))
	return ok
}

// ircUserMode is MODE on the client's own nick: +B and -B set the bot
// flag (the bot setting), +w and -w whether the connection is shown
// WALLOPS (irc_wallops.go), +i and -i whether a masked WHO hides it
// (irc_invisible.go), no modes list them (221). Other user modes
// are not chatd's: 501.
func ircUserMode(ctx context.Context, s *session, m *ircMsg) {
	modes := m.param(1)
	if modes == "" {
		shown := "+"
		if s.prefs().Bot {
			shown += "B"
		}
		if s.admin.Load() {
			shown += "o"
		}
		if s.irc.invisible.Load() {
			shown += "i"
		}
		if s.irc.wallops.Load() {
			shown += "w"
		}
		s.numeric("221", shown)
		return
	}
	add := true
	for _, c := range modes {
		switch c {
		case '+':
			add = true
		case '-':
			add = false
		case 'B':
			value := map[bool]string{true: "on", false: "off"}[add]
			if _, err := s.collect(ctx, cmdSet, chatd.SettingBot+" "+value); err != nil {
				s.ircError("MODE", s.user, err)
				continue
			}
			s.ircLineOut(userMask(s.user), "MODE", s.user, map[bool]string{true: "+B", false: "-B"}[add])
		case 'w':
			s.irc.wallops.Store(add)
			s.ircLineOut(userMask(s.user), "MODE", s.user, map[bool]string{true: "+w", false: "-w"}[add])
		case 'i':
			s.irc.invisible.Store(add)
			s.ircLineOut(userMask(s.user), "MODE", s.user, map[bool]string{true: "+i", false: "-i"}[add])
		default:
			s.numeric("501", "Unknown MODE flag "+string(c))
		}
	}
}
