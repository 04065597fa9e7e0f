// The command table and dispatch, and the utility commands (help, mode,
// logout, time, echo, quote). Handlers for the other topics live in
// messages.go, presence.go, rooms.go, moderation.go, account.go and admin.go.

package daemon

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"chatd"
)

// command is one entry of the command table.
type command struct {
	name    string
	aliases []string
	args    string // usage of the arguments, "" for none
	summary string
	admin   bool // server admins only
	run     func(ctx context.Context, s *session, args string) error
}

// commands is the table of PROTOCOL.md section 4, in the order help lists it.
// It is filled in init because help refers to it.
var commands []*command

// byName maps every name and alias to its command.
var byName = map[string]*command{}

func init() {
	commands = []*command{
		{name: "help", aliases: []string{"?"}, args: "[COMMAND]", summary: "list commands, or show how to use one", run: cmdHelp},
		{name: "who", summary: "who is online, you included", run: cmdWho},
		{name: "whoelse", summary: "who else is online", run: cmdWhoElse},
		{name: "last", args: "N", summary: "who was online in the last N minutes (1-60)", run: cmdLast},
		{name: "wholasthr", summary: "who else was online in the last hour", run: cmdWhoLastHr},
		{name: "whoelsesince", args: "N", summary: "who else was online in the last N seconds", run: cmdWhoElseSince},
		{name: "active", args: "N", summary: "who ran a command in the last N minutes", run: cmdActive},
		{name: "broadcast", args: "TEXT", summary: "say TEXT to everyone online, in every room", run: cmdBroadcast},
		{name: "send", aliases: []string{"message", "msg"}, args: "USER TEXT | (USER USER ...) TEXT", summary: "private message; kept for users who are offline", run: cmdSend},
		{name: "block", aliases: []string{"blacklist"}, args: "USER | (USER USER ...)", summary: "stop receiving messages from users", run: cmdBlock},
		{name: "unblock", aliases: []string{"whitelist"}, args: "USER | (USER USER ...)", summary: "receive messages from users again", run: cmdUnblock},
		{name: "blocked", summary: "list the users you block", run: cmdBlocked},
		{name: "watch", args: "USER", summary: "hear of a user's logins, logouts and away however many are online", run: cmdWatch},
		{name: "unwatch", args: "USER", summary: "stop watching a user", run: cmdUnwatch},
		{name: "watching", summary: "list the users you watch, online or not", run: cmdWatching},
		{name: "meta", args: "[USER|#ROOM] | set [#ROOM] KEY VALUE | unset [#ROOM] KEY", summary: "show or change the metadata of a user or a room (a display name, an avatar)", run: cmdMeta},
		{name: "check", aliases: []string{"whois"}, args: "[USER]", summary: "details about you or another user", run: cmdCheck},
		{name: "me", aliases: []string{"action"}, args: "TEXT", summary: "an action to your room: me waves shows * you waves", run: cmdMe},
		{name: "edit", args: "ID|last TEXT", summary: "change the text of your message ID (last: your last line in your room)", run: cmdEdit},
		{name: "delete", args: "ID|last", summary: "delete your message ID; room owners and admins any line of their room", run: cmdDelete},
		{name: "reply", args: "ID TEXT", summary: "answer the message ID in its conversation", run: cmdReply},
		{name: "react", args: "ID REACTION", summary: "react to the message ID (REACTION: a word or emoji, no spaces)", run: cmdReact},
		{name: "unreact", args: "ID REACTION", summary: "take your reaction to the message ID back", run: cmdUnreact},
		{name: "away", args: "[MESSAGE]", summary: "mark yourself away; who messages you is told MESSAGE", run: cmdAway},
		{name: "back", summary: "you are no longer away", run: cmdBack},
		{name: "names", args: "[ROOM]", summary: "who is in your room (or ROOM)", run: cmdNames},
		{name: "rooms", aliases: []string{"list"}, args: "[mine]", summary: "list rooms with their members and topics; rooms mine: your rooms", run: cmdRooms},
		{name: "create", args: "NAME [PASSWORD]", summary: "create a room (you own it) and join it", run: cmdCreate},
		{name: "join", args: "NAME [PASSWORD]", summary: "join a room and talk there; you stay in your other rooms (#NAME works too)", run: cmdJoin},
		{name: "leave", aliases: []string{"part"}, args: "[ROOM]", summary: "leave ROOM (default: the room you talk in)", run: cmdLeave},
		{name: "topic", args: "[TEXT]", summary: "show your room's topic; its owner or an admin sets it (topic - clears it)", run: cmdTopic},
		{name: "read", args: "CONVERSATION ID", summary: "mark #room or @user read up to the message ID", run: cmdRead},
		{name: "unread", summary: "your conversations with unread messages, and how many", run: cmdUnread},
		{name: "typing", args: "#ROOM | @USER", summary: "tell the others in a conversation that you are typing (for clients; at most one per 3 s)", run: cmdTyping},
		{name: "mentions", args: "[before ID] [N]", summary: "the N lines that named you as @you in your rooms, newest first (default 20, at most 100)", run: cmdMentions},
		{name: "history", args: "[CONV] [before|after ID] [N] | CONV edits [N]", summary: "N stored lines of your room or of CONV (#room, @user; default 20, at most 200); edits: the edit log", run: cmdHistory},
		{name: "search", args: "[#ROOM|@USER] WORDS", summary: "stored lines of your room (or that conversation) with all these words, newest first (at most 20)", run: cmdSearch},
		{name: "invite", args: "USER", summary: "room owners: USER may join your locked room once without its password", run: cmdInvite},
		{name: "invites", summary: "the rooms you have an invitation to", run: cmdInvites},
		{name: "roomban", args: "USER [DURATION] | MASK", summary: "room owners, operators and admins: put USER out of your room and keep them out; or keep out whoever MASK (nick!user@host, * and ?) matches", run: cmdRoomBan},
		{name: "roomunban", args: "USER | MASK", summary: "room owners, operators and admins: let USER (or MASK) join your room again", run: cmdRoomUnban},
		{name: "roompasswd", args: "[PASSWORD]", summary: "room owners: set your room's password, or remove it", run: cmdRoomPasswd},
		{name: "transfer", args: "USER", summary: "room owners: give your room to USER, who must be in it", run: cmdTransfer},
		{name: "roommode", args: "[#ROOM] [+i|-i|+m|-m|+s|-s|+n|-n|+t|-t|+C|-C|+l N|-l|+v USER|-v USER|+o USER|-o USER|+e MASK|-e MASK|+I MASK|-I MASK ...]", summary: "show a room's modes; its operators: change them (invite-only, moderated, secret, no CTCP, member limit, voice, operators, ban and invite exceptions)", run: cmdRoomMode},
		{name: "kick", args: "USER [REASON]", summary: "admins: disconnect a user; room owners: put them out of your room", run: cmdKick},
		{name: "close", args: "[ROOM]", summary: "room owner or admin: delete the room; everyone in it goes to the lobby", run: cmdClose},
		{name: "rename", args: "ROOM NEWNAME [REASON]", summary: "room owner or admin: rename the room; its history and members stay with it", run: cmdRename},
		{name: "say", args: "[#ROOM] TEXT", summary: "chat to your room, or to another of your rooms (for text that starts with a command word)", run: cmdSay},
		{name: "time", summary: "the server's time", run: cmdTime},
		{name: "echo", args: "TEXT", summary: "repeat TEXT back to you", run: cmdEcho},
		{name: "quote", summary: "a random quote", run: cmdQuote},
		{name: "passwd", summary: "change your password", run: cmdPasswd},
		{name: "keys", summary: "list the SSH keys you log in with", run: cmdKeys},
		{name: "keyadd", args: "KEY", summary: "add an SSH public key (one line of authorized_keys) to log in with", run: cmdKeyAdd},
		{name: "keydel", args: "FINGERPRINT", summary: "remove one of your SSH keys", run: cmdKeyDel},
		{name: "mode", args: "text|json", summary: "switch output between friendly text and JSON lines", run: cmdMode},
		{name: "set", args: "[KEY VALUE]", summary: "your settings: set timestamps on|off, set timezone AREA/CITY; alone lists them", run: cmdSet},
		{name: "logout", aliases: []string{"quit"}, summary: "leave the server", run: cmdLogout},
		{name: "ban", args: "USER [DURATION] [REASON]", summary: "ban a user (for DURATION, e.g. 30m, 2h, 7d; else for good)", admin: true, run: cmdBan},
		{name: "unban", args: "USER", summary: "lift a ban", admin: true, run: cmdUnban},
		{name: "shutdown", args: "[MESSAGE]", summary: "stop this server (only this node of a cluster), telling its users MESSAGE", admin: true, run: cmdShutdown},
	}
	for _, c := range commands {
		byName[c.name] = c
		for _, a := range c.aliases {
			byName[a] = c
		}
	}
}

// commandWord returns the lower-cased first word of line without a leading /.
func commandWord(line string) string {
	w, _ := splitWord(line)
	return strings.ToLower(strings.TrimPrefix(w, "/"))
}

// splitWord splits off the first whitespace-separated word.
func splitWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i+1:], " \t")
}

// lookupCommand finds the command a line starts with.
func lookupCommand(line string) (*command, string, bool) {
	w, rest := splitWord(line)
	if w == "" {
		return nil, "", false
	}
	slash := strings.HasPrefix(w, "/")
	c, ok := byName[strings.ToLower(strings.TrimPrefix(w, "/"))]
	if !ok && slash {
		return nil, w, true // "/nosuch" is an unknown command, not chat
	}
	return c, rest, ok
}

// execute runs one line from a logged-in user.
func (s *session) execute(ctx context.Context, line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	c, args, isCmd := lookupCommand(line)
	if isCmd && !batchedCommand(c) {
		// What this reader's chat queued goes out before anything that
		// may wait (the database, the argon2 queue).
		s.out.flush()
	}
	if !isCmd {
		if err := s.chat(ctx, line); err != nil {
			s.fail("say", err)
		}
		return
	}
	if c == nil {
		s.reply(errorEvent(strings.TrimPrefix(args, "/"), chatd.EUnknownCommand,
			fmt.Sprintf("there is no command %q; type help for the list", args)))
		return
	}
	if c.admin && !s.admin.Load() {
		s.fail(c.name, chatd.Errorf(chatd.ENotPermitted, "%s is for server admins only", c.name))
		return
	}
	if err := c.run(ctx, s, args); err != nil {
		s.fail(c.name, err)
	}
}

// batchedCommand reports whether c is room chat, which only queues (say,
// me): its fan-out is left to the reader's flusher.
func batchedCommand(c *command) bool {
	return c != nil && (c.name == "say" || c.name == "me")
}

func badArgs(c string) error {
	cmd := byName[c]
	return chatd.Errorf(chatd.EBadArgs, "usage: %s %s", cmd.name, cmd.args)
}

// ---- help, mode, logout, time, echo, quote ----

func cmdHelp(_ context.Context, s *session, args string) error {
	if args != "" {
		c, ok := byName[strings.ToLower(strings.TrimPrefix(strings.TrimSpace(args), "/"))]
		if !ok {
			return chatd.Errorf(chatd.EBadArgs, "there is no command %q; type help for the list", args)
		}
		usage := strings.TrimSpace(c.name + " " + c.args)
		body := []string{"  " + c.summary}
		if len(c.aliases) > 0 {
			body = append(body, "  also: "+strings.Join(c.aliases, ", "))
		}
		if c.admin {
			body = append(body, "  server admins only")
		}
		s.reply(okEvent("help", "usage: "+usage, body,
			f("command", c.name), f("usage", usage), f("aliases", nonNil(c.aliases)), f("summary", c.summary)))
		return nil
	}
	body := []string{"Just type to talk to everyone in your room. Commands (a leading / is fine):"}
	var names []string
	for _, g := range helpGroups {
		if g.admin && !s.admin.Load() {
			continue
		}
		body = append(body, g.title)
		for _, name := range g.commands {
			c := byName[name]
			// Lists show the short form; help COMMAND shows all of it.
			args, _, _ := strings.Cut(c.args, " | ")
			line := fmt.Sprintf("  %-29s %s", strings.TrimSpace(c.name+" "+args), c.summary)
			if len(c.aliases) > 0 {
				line += " (also " + strings.Join(c.aliases, ", ") + ")"
			}
			body = append(body, line)
			names = append(names, c.name)
		}
	}
	body = append(body, "Type help COMMAND for more about one, e.g. help send.")
	s.reply(okEvent("help", "chatd help", body, f("commands", names)))
	return nil
}

// helpGroups orders the help listing by what people want to do. Every
// command appears in exactly one group (TestHelpListsEveryCommand).
var helpGroups = []struct {
	title    string
	admin    bool
	commands []string
}{
	{"Talking", false, []string{"say", "me", "send", "broadcast", "echo", "reply", "edit", "delete", "react", "unreact", "read", "unread", "mentions", "typing"}},
	{"People", false, []string{"who", "whoelse", "last", "wholasthr", "whoelsesince", "active", "check", "away", "back", "block", "unblock", "blocked", "watch", "unwatch", "watching", "meta"}},
	{"Rooms", false, []string{"rooms", "names", "join", "leave", "create", "topic", "history", "search"}},
	{"Running a room", false, []string{"invite", "invites", "kick", "roomban", "roomunban", "roompasswd", "roommode", "transfer", "close", "rename"}},
	{"You and the server", false, []string{"set", "passwd", "keys", "keyadd", "keydel", "mode", "time", "quote", "help", "logout"}},
	{"Server admins", true, []string{"ban", "unban", "shutdown"}},
}

func cmdMode(_ context.Context, s *session, args string) error {
	m, ok := modeSwitch("mode " + args)
	if !ok {
		return badArgs("mode")
	}
	s.setMode(m)
	return nil
}

func cmdLogout(_ context.Context, s *session, _ string) error {
	s.logOut(byeEvent(byeLogout, "see you soon").labeled(s.label))
	return nil
}

func cmdTime(_ context.Context, s *session, _ string) error {
	now := s.srv.now()
	text := "server time is " + now.UTC().Format("2006-01-02 15:04:05 UTC")
	if loc := s.prefs().Location; loc != time.UTC {
		text += " (" + now.In(loc).Format("2006-01-02 15:04:05 MST") + " in " + loc.String() + ")"
	}
	s.reply(okEvent("time", text, nil, f("time", stamp(now))))
	return nil
}

func cmdEcho(_ context.Context, s *session, args string) error {
	s.reply(okEvent("echo", chatd.CleanText(args), nil))
	return nil
}

func cmdQuote(_ context.Context, s *session, _ string) error {
	q := quotes[s.srv.rand(len(quotes))]
	s.reply(okEvent("quote", q, nil))
	return nil
}

// object renders ordered fields as a JSON object.
type object []field

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, fl := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, fl.key)
		b.WriteByte(':')
		writeJSON(&b, fl.val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
