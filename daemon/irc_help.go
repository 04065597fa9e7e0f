// HELP and HELPOP (docs/irc.md "Help"): the IRC commands chatd maps, and
// chatd's own commands (the `help` command's table), answered as 704,
// 705 and 706, or 524 for a subject there is no help on.

package daemon

import (
	"context"
	"sort"
	"strings"
)

// ircHelp is what HELP says about each IRC command: its usage, then what
// it does in chatd.
var ircHelp = map[string][2]string{
	"PRIVMSG":     {"PRIVMSG <#room|nick> :<text>", "Says text in a room, or sends it to a user (offline mail when they are away). PRIVMSG chatd :<command> runs a chatd command."},
	"NOTICE":      {"NOTICE <#room|nick> :<text>", "Like PRIVMSG, shown as a notice; nobody answers a notice automatically."},
	"TAGMSG":      {"TAGMSG <#room|nick>", "Sends only tags: +typing, +draft/react, and other client-only tags."},
	"JOIN":        {"JOIN <#room>[,<#room>] [key]", "Joins rooms; a room that does not exist is created and you own it. JOIN 0 leaves every room."},
	"PART":        {"PART <#room>[,<#room>] [:reason]", "Leaves rooms; the others see the reason."},
	"TOPIC":       {"TOPIC <#room> [:text]", "Shows or (as the room's owner) sets the topic."},
	"NAMES":       {"NAMES [#room]", "Lists who is in a room."},
	"LIST":        {"LIST [#mask,!mask,>n,<n]", "Lists the rooms someone is in, filtered by name masks and user counts."},
	"WHO":         {"WHO <mask|#room> [%fields]", "Lists users, WHOX fields included."},
	"WHOIS":       {"WHOIS <nick>", "Tells about a user."},
	"WHOWAS":      {"WHOWAS <nick> [count]", "Tells about a user who left lately."},
	"ISON":        {"ISON <nick> ...", "Tells which of the nicks are online."},
	"USERHOST":    {"USERHOST <nick> ...", "Tells the masks of online users."},
	"AWAY":        {"AWAY [:text]", "Marks you away with text, or back without."},
	"SETNAME":     {"SETNAME :<real name>", "Changes the real name your IRC connections show (WHOIS, WHO)."},
	"KICK":        {"KICK <#room> <nick>[,<nick>] [:reason]", "Puts users out of your room."},
	"INVITE":      {"INVITE <nick> <#room>", "Invites a user to a room."},
	"MODE":        {"MODE <#room> [+|-][imnst] [+l limit|-l] [+|-v nick] [+|-o nick] [+k key|-k] [+|-b mask]", "The room's modes (chatd's roommode): invite-only, moderated, secret, no outside lines, topic by operators, member limit, voice, operators; its password (+k) and ban masks (+b; alone: the list)."},
	"MONITOR":     {"MONITOR <+|-|C|L|S> [nick,...]", "Your watch list (chatd's watch): hear when those users come and go."},
	"CHATHISTORY": {"CHATHISTORY <LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS> ...", "Pages the history of a room or a private conversation."},
	"MARKREAD":    {"MARKREAD <target> [timestamp=...]", "Reads or moves your read marker."},
	"REDACT":      {"REDACT <target> <msgid> [:reason]", "Deletes a message."},
	"OPER":        {"OPER <account> <password>", "Server admin rights, for server admins."},
	"KILL":        {"KILL <nick> [:reason]", "Disconnects a user (server admins)."},
	"WALLOPS":     {"WALLOPS :<text>", "Sends text to the IRC users with user mode +w (server admins)."},
	"REGISTER":    {"REGISTER * * <password>", "Makes your nick an account: before connecting, or as a guest."},
	"QUIT":        {"QUIT [:reason]", "Logs out; the others see the reason."},
	"MOTD":        {"MOTD", "Shows the banner."},
	"LUSERS":      {"LUSERS", "Counts the users."},
	"VERSION":     {"VERSION", "Tells the server's version."},
	"TIME":        {"TIME", "Tells the server's time."},
	"INFO":        {"INFO", "Tells about the server."},
	"PING":        {"PING <token>", "Asks for a PONG."},
	"CAP":         {"CAP <LS|REQ|LIST|END> ...", "Capability negotiation."},
	"HELP":        {"HELP [subject]", "This help; a subject is an IRC command or a chatd command."},
}

// ircHelpCmd answers HELP and HELPOP.
func ircHelpCmd(_ context.Context, s *session, m *ircMsg) {
	subject := strings.TrimSpace(m.param(0))
	if subject == "" {
		names := make([]string, 0, len(ircHelp))
		for n := range ircHelp {
			names = append(names, n)
		}
		sort.Strings(names)
		lines := []string{"chatd speaks IRC over its own commands. IRC commands:"}
		for len(names) > 0 {
			n := min(8, len(names))
			lines = append(lines, "  "+strings.Join(names[:n], " "))
			names = names[n:]
		}
		lines = append(lines,
			"HELP <command> tells more about one; HELP <chatd command> about a chatd command,",
			"which you run with PRIVMSG chatd :<command> (PRIVMSG chatd :help lists them).")
		s.ircHelpLines("index", lines)
		return
	}
	if h, ok := ircHelp[strings.ToUpper(subject)]; ok {
		s.ircHelpLines(subject, []string{h[0], h[1]})
		return
	}
	if c, ok := byName[strings.ToLower(strings.TrimPrefix(subject, "/"))]; ok && (!c.admin || s.admin.Load()) {
		lines := []string{"chatd command: " + strings.TrimSpace(c.name+" "+c.args), c.summary}
		if len(c.aliases) > 0 {
			lines = append(lines, "also: "+strings.Join(c.aliases, ", "))
		}
		lines = append(lines, "Run it with PRIVMSG chatd :"+c.name)
		s.ircHelpLines(subject, lines)
		return
	}
	s.numeric("524", subject, "No help available on this topic")
}

// ircHelpLines sends lines as one help answer on subject: the first as
// 704, the rest as 705, then 706.
func (s *session) ircHelpLines(subject string, lines []string) {
	for i, l := range lines {
		code := "705"
		if i == 0 {
			code = "704"
		}
		s.numeric(code, subject, l)
	}
	s.numeric("706", subject, "End of /HELP")
}
