package daemon

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
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
		{name: "check", args: "[USER]", summary: "details about you or another user", run: cmdCheck},
		{name: "rooms", summary: "list rooms with their members", run: cmdRooms},
		{name: "create", args: "NAME [PASSWORD]", summary: "create a room (you own it) and join it", run: cmdCreate},
		{name: "join", args: "NAME [PASSWORD]", summary: "move to a room", run: cmdJoin},
		{name: "leave", summary: "go back to the lobby", run: cmdLeave},
		{name: "kick", args: "USER [REASON]", summary: "admins: disconnect a user; room owners: put them out of your room", run: cmdKick},
		{name: "close", args: "[ROOM]", summary: "room owner or admin: delete the room; everyone in it goes to the lobby", run: cmdClose},
		{name: "say", args: "TEXT", summary: "chat to your room (for text that starts with a command word)", run: cmdSay},
		{name: "time", summary: "the server's time", run: cmdTime},
		{name: "echo", args: "TEXT", summary: "repeat TEXT back to you", run: cmdEcho},
		{name: "quote", summary: "a random quote", run: cmdQuote},
		{name: "passwd", summary: "change your password", run: cmdPasswd},
		{name: "mode", args: "text|json", summary: "switch output between friendly text and JSON lines", run: cmdMode},
		{name: "logout", aliases: []string{"quit"}, summary: "leave the server", run: cmdLogout},
		{name: "ban", args: "USER [DURATION] [REASON]", summary: "ban a user (for DURATION, e.g. 30m, 2h, 7d; else for good)", admin: true, run: cmdBan},
		{name: "unban", args: "USER", summary: "lift a ban", admin: true, run: cmdUnban},
		{name: "shutdown", args: "[MESSAGE]", summary: "stop the server, telling everyone MESSAGE", admin: true, run: cmdShutdown},
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
	if !isCmd {
		if err := s.chat(ctx, line); err != nil {
			s.fail("say", err)
		}
		return
	}
	if c == nil {
		s.send(errorEvent(strings.TrimPrefix(args, "/"), chatd.EUnknownCommand,
			fmt.Sprintf("there is no command %q; type help for the list", args)))
		return
	}
	if c.admin && !s.admin {
		s.fail(c.name, chatd.Errorf(chatd.ENotPermitted, "%s is for server admins only", c.name))
		return
	}
	if err := c.run(ctx, s, args); err != nil {
		s.fail(c.name, err)
	}
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
		if g.admin && !s.admin {
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
	{"Talking", false, []string{"say", "send", "broadcast", "echo"}},
	{"People", false, []string{"who", "whoelse", "last", "wholasthr", "whoelsesince", "active", "check", "block", "unblock", "blocked"}},
	{"Rooms", false, []string{"rooms", "join", "leave", "create", "close", "kick"}},
	{"You and the server", false, []string{"passwd", "mode", "time", "quote", "help", "logout"}},
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
	s.end(byeLogout, "see you soon")
	return nil
}

func cmdTime(_ context.Context, s *session, _ string) error {
	now := s.srv.now()
	s.reply(okEvent("time", "server time is "+now.UTC().Format("2006-01-02 15:04:05 UTC"), nil, f("time", stamp(now))))
	return nil
}

func cmdEcho(_ context.Context, s *session, args string) error {
	s.reply(okEvent("echo", clean(args), nil))
	return nil
}

func cmdQuote(_ context.Context, s *session, _ string) error {
	q := quotes[s.srv.rand(len(quotes))]
	s.reply(okEvent("quote", q, nil))
	return nil
}

// ---- presence queries ----

func (s *session) replyUsers(cmd, what string, users []string) {
	users = sortedNames(nonNil(users))
	text := what + ": " + strings.Join(users, ", ")
	if len(users) == 0 {
		text = what + ": nobody"
	}
	s.reply(okEvent(cmd, text, nil, f("users", users)))
}

func cmdWho(_ context.Context, s *session, _ string) error {
	s.replyUsers("who", "online", s.srv.hub.online())
	return nil
}

func cmdWhoElse(_ context.Context, s *session, _ string) error {
	s.replyUsers("whoelse", "online besides you", without(s.srv.hub.online(), s.user))
	return nil
}

// intArg parses the single whole-number argument of cmd within [lo, hi].
func intArg(cmd, args string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(args))
	if err != nil || n < lo || n > hi {
		return 0, chatd.Errorf(chatd.EBadArgs, "usage: %s N, with N a whole number from %d to %d", cmd, lo, hi)
	}
	return n, nil
}

// seenSince is everyone online now or at any moment since t.
func (s *session) seenSince(ctx context.Context, t time.Time) ([]string, error) {
	past, err := s.srv.store.UsersSeenSince(ctx, t)
	if err != nil {
		return nil, err
	}
	return union(past, s.srv.hub.online()), nil
}

func cmdLast(ctx context.Context, s *session, args string) error {
	n, err := intArg("last", args, 1, 60)
	if err != nil {
		return err
	}
	users, err := s.seenSince(ctx, s.srv.now().Add(-time.Duration(n)*time.Minute))
	if err != nil {
		return err
	}
	s.replyUsers("last", fmt.Sprintf("online in the last %d minute%s", n, plural(n)), users)
	return nil
}

func cmdWhoLastHr(ctx context.Context, s *session, _ string) error {
	users, err := s.seenSince(ctx, s.srv.now().Add(-time.Hour))
	if err != nil {
		return err
	}
	s.replyUsers("wholasthr", "others online in the last hour", without(users, s.user))
	return nil
}

func cmdWhoElseSince(ctx context.Context, s *session, args string) error {
	n, err := intArg("whoelsesince", args, 1, 10*365*24*3600)
	if err != nil {
		return err
	}
	users, err := s.seenSince(ctx, s.srv.now().Add(-time.Duration(n)*time.Second))
	if err != nil {
		return err
	}
	s.replyUsers("whoelsesince", fmt.Sprintf("others online in the last %d second%s", n, plural(n)), without(users, s.user))
	return nil
}

func cmdActive(ctx context.Context, s *session, args string) error {
	n, err := intArg("active", args, 1, 10*365*24*60)
	if err != nil {
		return err
	}
	since := s.srv.now().Add(-time.Duration(n) * time.Minute)
	past, err := s.srv.store.UsersActiveSince(ctx, since)
	if err != nil {
		return err
	}
	// Online users' activity lives in memory until it is flushed, so the
	// database answers for offline users only.
	var users []string
	for _, name := range past {
		if o := s.srv.hub.lookup(name); o == nil {
			users = append(users, name)
		}
	}
	for _, o := range s.srv.hub.sessions() {
		if time.Unix(0, o.lastActive.Load()).Compare(since) >= 0 {
			users = append(users, o.user)
		}
	}
	s.replyUsers("active", fmt.Sprintf("active in the last %d minute%s", n, plural(n)), users)
	return nil
}

func without(names []string, self string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if chatd.Key(n) != chatd.Key(self) {
			out = append(out, n)
		}
	}
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range [][]string{a, b} {
		for _, n := range list {
			if k := chatd.Key(n); !seen[k] {
				seen[k] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// ---- chat ----

// chat sends text to the user's current room.
func (s *session) chat(ctx context.Context, text string) error {
	text = clean(text)
	if strings.TrimSpace(text) == "" {
		return badArgs("say")
	}
	now := s.srv.now()
	room := s.srv.hub.roomOf(s)
	line := chatd.HistoryLine{From: s.user, Text: text, Time: now}
	ev := roomMessage(kindRoom, s.user, room, text, now)
	// Under the room's log lock, so that a join sees this line either live
	// or in its replay, never both or neither.
	l := s.srv.logs.get(room)
	l.mu.Lock()
	l.append(line, s.srv.cfg().Messages.HistoryOnJoin)
	fanout(s.srv.hub.members(room), ev, nil, s.notBlocking)
	l.mu.Unlock()
	s.srv.history.add(room, line)
	return nil
}

func cmdSay(ctx context.Context, s *session, args string) error { return s.chat(ctx, args) }

func cmdBroadcast(_ context.Context, s *session, args string) error {
	text := clean(args)
	if strings.TrimSpace(text) == "" {
		return badArgs("broadcast")
	}
	fanout(s.srv.hub.sessions(), broadcastMessage(s.user, text, s.srv.now()), nil, s.notBlocking)
	return nil
}

// targets parses "USER rest" or "(U1 U2 ...) rest". Names are de-duplicated
// case-insensitively, keeping the first spelling.
func targets(args string) (names []string, rest string, ok bool) {
	args = strings.TrimSpace(args)
	if strings.HasPrefix(args, "(") {
		end := strings.IndexByte(args, ')')
		if end < 0 {
			return nil, "", false
		}
		names = strings.Fields(args[1:end])
		rest = strings.TrimSpace(args[end+1:])
	} else {
		var w string
		w, rest = splitWord(args)
		if w != "" {
			names = []string{w}
		}
	}
	seen := map[string]bool{}
	out := names[:0]
	for _, n := range names {
		if k := chatd.Key(n); !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	return out, rest, len(out) > 0
}

func cmdSend(ctx context.Context, s *session, args string) error {
	names, text, ok := targets(args)
	text = clean(text)
	if !ok || strings.TrimSpace(text) == "" {
		return badArgs("send")
	}
	// Resolve names first: one recipient that is yourself or unknown makes
	// a single send an error; in a list each gets its own status.
	type rcpt struct {
		typed string
		user  *chatd.User
		self  bool
	}
	var rs []rcpt
	var to []string
	for _, n := range names {
		if chatd.Key(n) == chatd.Key(s.user) {
			if len(names) == 1 {
				return chatd.Errorf(chatd.ESelf, "you cannot send a message to yourself")
			}
			rs = append(rs, rcpt{typed: n, self: true})
			continue
		}
		u, err := s.srv.store.UserByName(ctx, n)
		if chatd.ErrorCode(err) == chatd.ENoSuchUser {
			if len(names) == 1 {
				return chatd.Errorf(chatd.ENoSuchUser, "there is no user %s", n)
			}
			rs = append(rs, rcpt{typed: n})
			continue
		} else if err != nil {
			return err
		}
		rs = append(rs, rcpt{typed: n, user: u})
		to = append(to, u.Name)
	}
	now := s.srv.now()
	live := privateMessage(kindPrivate, s.user, nonNil(to), text, now)
	for _, r := range rs {
		switch {
		case r.self:
			// Not a delivery status: the list named the sender.
			s.fail("send", chatd.Errorf(chatd.ESelf, "you are in the list; no copy was sent to you"))
		case r.user == nil:
			s.reply(deliveryEvent(r.typed, statusNoSuchUser))
		default:
			status, err := s.deliver(ctx, r.user.Name, to, text, now, live)
			if err != nil {
				s.fail("send", fmt.Errorf("deliver to %s: %w", r.user.Name, err))
				continue
			}
			s.reply(deliveryEvent(r.user.Name, status))
		}
	}
	return nil
}

// deliver hands one private message to name and returns its status. An
// error means the server failed (the message was neither delivered nor
// stored) and is reported as such, not disguised as a status.
func (s *session) deliver(ctx context.Context, name string, to []string, text string, now time.Time, live *Event) (string, error) {
	blocked, err := s.srv.store.IsBlocked(ctx, name, s.user)
	if chatd.ErrorCode(err) == chatd.ENoSuchUser {
		return statusNoSuchUser, nil // deleted a moment ago
	} else if err != nil {
		return "", err
	}
	if blocked {
		return statusBlocked, nil
	}
	if o := s.srv.hub.lookup(name); o != nil && o.send(live) {
		return statusDelivered, nil
	}
	err = s.srv.store.StoreOffline(ctx, name, chatd.OfflineMessage{From: s.user, To: to, Text: text, Time: now},
		s.srv.cfg().Messages.OfflineLimit)
	if err == nil {
		return statusStored, nil
	}
	switch chatd.ErrorCode(err) {
	case chatd.EMailboxFull:
		return statusMailboxFull, nil
	case chatd.ENoSuchUser:
		return statusNoSuchUser, nil
	}
	return "", err
}

// ---- blocks ----

func (s *session) eachTarget(ctx context.Context, cmd, args string, op func(context.Context, string, string) error, done string) error {
	names, rest, ok := targets(args)
	if !ok || rest != "" {
		return badArgs(cmd)
	}
	// A single name fails as a whole; a list reports each failing name on
	// its own line and goes on.
	var okNames []string
	for _, n := range names {
		if err := op(ctx, s.user, n); err != nil {
			if len(names) == 1 {
				return err
			}
			s.fail(cmd, err)
			continue
		}
		okNames = append(okNames, s.registered(ctx, n))
	}
	// The in-memory list filters fan-out: it must be current before the
	// user is told the change is done.
	list, err := s.srv.store.Blocked(ctx, s.user)
	if err != nil {
		return err
	}
	s.setBlocks(list)
	text := fmt.Sprintf("%d of %d %s", len(okNames), len(names), done)
	if len(names) == 1 {
		text = fmt.Sprintf("%s %s", okNames[0], done)
	}
	s.reply(okEvent(cmd, text, nil, f("users", nonNil(okNames))))
	return nil
}

// registered returns name in its registered spelling, or as given when it
// cannot be looked up.
func (s *session) registered(ctx context.Context, name string) string {
	if u, err := s.srv.store.UserByName(ctx, name); err == nil {
		return u.Name
	}
	return name
}

func cmdBlock(ctx context.Context, s *session, args string) error {
	return s.eachTarget(ctx, "block", args, s.srv.store.Block, "blocked")
}

func cmdUnblock(ctx context.Context, s *session, args string) error {
	return s.eachTarget(ctx, "unblock", args, s.srv.store.Unblock, "unblocked")
}

func cmdBlocked(ctx context.Context, s *session, _ string) error {
	list, err := s.srv.store.Blocked(ctx, s.user)
	if err != nil {
		return err
	}
	text := "you block: " + strings.Join(list, ", ")
	if len(list) == 0 {
		text = "you block nobody"
	}
	s.reply(okEvent("blocked", text, nil, f("blocked", nonNil(list))))
	return nil
}

// ---- check ----

func cmdCheck(ctx context.Context, s *session, args string) error {
	name := strings.TrimSpace(args)
	if name == "" {
		name = s.user
	}
	if strings.ContainsAny(name, " \t") {
		return badArgs("check")
	}
	u, err := s.srv.store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	now := s.srv.now()
	info := []field{f("user", u.Name), f("admin", u.Admin)}
	var body []string
	var since, active time.Time
	room := ""
	o := s.srv.hub.lookup(u.Name)
	if o != nil {
		since, active, room = o.loginAt, time.Unix(0, o.lastActive.Load()), s.srv.hub.roomOf(o)
	} else {
		since, active = u.LastLogin, u.LastActive
	}
	idle := any(nil)
	if !active.IsZero() {
		idle = int(now.Sub(active).Seconds())
	}
	info = append(info, f("online", o != nil), f("room", room), f("since", jsonTime(since)),
		f("last_active", jsonTime(active)), f("idle_seconds", idle))
	if o != nil && s.admin {
		info = append(info, f("addr", o.addr))
	}
	status := "offline"
	if o != nil {
		status = "online in " + room
	}
	body = append(body, "  status:      "+status, "  admin:       "+yesNo(u.Admin))
	if !since.IsZero() {
		body = append(body, "  logged in:   "+textDate(since))
	}
	if !active.IsZero() {
		body = append(body, fmt.Sprintf("  last active: %s (idle %ds)", textDate(active), idle))
	}
	if o != nil && s.admin {
		body = append(body, "  address:     "+o.addr)
	}
	s.reply(okEvent("check", "about "+u.Name+":", body, f("info", object(info))))
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

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ---- admin: ban, unban, shutdown, kick ----

// parseBanDuration reads a ban length; see chatd.ParseBanDuration.
func parseBanDuration(w string) (time.Duration, bool) {
	d, err := chatd.ParseBanDuration(w)
	return d, err == nil
}

func cmdBan(ctx context.Context, s *session, args string) error {
	name, rest := splitWord(args)
	if name == "" {
		return badArgs("ban")
	}
	if chatd.Key(name) == chatd.Key(s.user) {
		return chatd.Errorf(chatd.ESelf, "you cannot ban yourself")
	}
	var dur time.Duration
	if w, after := splitWord(rest); w != "" {
		if d, ok := parseBanDuration(w); ok {
			dur, rest = d, after
		} else if w[0] >= '0' && w[0] <= '9' {
			// "ban bob 30 spam" must not become a permanent ban by a typo.
			return chatd.Errorf(chatd.EBadArgs, "%q is not a duration: write it like 30m, 2h or 7d (or permanent)", w)
		}
	}
	now := s.srv.now()
	b := chatd.Ban{User: name, Reason: clean(rest), By: s.user, Created: now}
	if dur > 0 {
		b.Expires = now.Add(dur)
	}
	if err := s.srv.store.Ban(ctx, b); err != nil {
		return err
	}
	u, err := s.srv.store.UserByName(ctx, name)
	if err == nil {
		name = u.Name
	}
	until := "for good"
	if dur > 0 {
		until = "until " + textDate(b.Expires)
	}
	s.srv.log.Info("ban", "user", name, "by", s.user, "until", b.Expires)
	s.srv.kickBanned(name, &b)
	s.reply(okEvent("ban", fmt.Sprintf("%s is banned %s", name, until), nil,
		f("user", name), f("until", jsonTime(b.Expires)), f("reason", b.Reason)))
	return nil
}

func cmdUnban(ctx context.Context, s *session, args string) error {
	name := strings.TrimSpace(args)
	if name == "" || strings.ContainsAny(name, " \t") {
		return badArgs("unban")
	}
	if err := s.srv.store.Unban(ctx, name); err != nil {
		return err
	}
	name = s.registered(ctx, name)
	s.reply(okEvent("unban", name+" is no longer banned", nil, f("user", name)))
	return nil
}

func cmdShutdown(_ context.Context, s *session, args string) error {
	msg := clean(strings.TrimSpace(args))
	if msg == "" {
		msg = "the server is shutting down"
	}
	s.reply(okEvent("shutdown", "shutting down", nil))
	s.srv.log.Info("shutdown requested", "by", s.user)
	s.srv.Shutdown(msg)
	return nil
}

func cmdKick(ctx context.Context, s *session, args string) error {
	name, reason := splitWord(args)
	if name == "" {
		return badArgs("kick")
	}
	reason = clean(reason)
	if chatd.Key(name) == chatd.Key(s.user) {
		return chatd.Errorf(chatd.ESelf, "you cannot kick yourself")
	}
	o := s.srv.hub.lookup(name)
	if o == nil {
		if _, err := s.srv.store.UserByName(ctx, name); err != nil {
			return err
		}
		return chatd.Errorf(chatd.ENoSuchUser, "%s is not online", name)
	}
	text := "kicked by " + s.user
	if reason != "" {
		text += ": " + reason
	}
	if s.admin {
		o.end(byeKicked, text)
		s.reply(okEvent("kick", o.user+" was disconnected", nil, f("user", o.user)))
		return nil
	}
	room := s.srv.hub.roomOf(o)
	r, err := s.srv.store.RoomByName(ctx, room)
	if err != nil || chatd.Key(r.Owner) != chatd.Key(s.user) {
		return chatd.Errorf(chatd.ENotPermitted, "only server admins, or the owner of the room %s is in, can kick them", o.user)
	}
	ev := roomKickEvent(r.Name, o.user, s.user, reason)
	fanout(s.srv.hub.members(r.Name), ev, nil, nil)
	s.srv.moveTo(o, chatd.Lobby, false)
	s.reply(okEvent("kick", o.user+" was put out of "+r.Name, nil, f("user", o.user)))
	return nil
}

// ---- rooms ----

func cmdRooms(ctx context.Context, s *session, _ string) error {
	rooms, err := s.srv.store.Rooms(ctx)
	if err != nil {
		return err
	}
	occupants := s.srv.hub.roomCounts()
	var list []object
	var body []string
	for _, r := range rooms {
		members := nonNil(occupants[chatd.Key(r.Name)])
		owner := any(nil)
		if r.Owner != "" {
			owner = r.Owner
		}
		list = append(list, object{f("name", r.Name), f("owner", owner), f("members", members),
			f("created", stamp(r.Created)), f("locked", r.Locked())})
		lock := ""
		if r.Locked() {
			lock = " [password]"
		}
		by := ""
		if r.Owner != "" {
			by = ", owner " + r.Owner
		}
		body = append(body, fmt.Sprintf("  %s%s (%d here%s, created %s): %s",
			r.Name, lock, len(members), by, textDate(r.Created), strings.Join(members, ", ")))
	}
	if list == nil {
		list = []object{}
	}
	s.reply(okEvent("rooms", fmt.Sprintf("%d room%s:", len(rooms), plural(len(rooms))), body, f("rooms", list)))
	return nil
}

func cmdCreate(ctx context.Context, s *session, args string) error {
	name, pw := splitWord(args)
	if name == "" || strings.ContainsAny(pw, " \t") {
		return badArgs("create")
	}
	if err := s.srv.cfg().Accounts.CheckName(name); err != nil {
		return chatd.Errorf(chatd.EBadName, "room names follow the username rules: %s", chatd.ErrorMessage(err))
	}
	r := chatd.Room{Name: name, Owner: s.user, Created: s.srv.now()}
	if pw != "" {
		var err error
		if r.PassHash, err = s.srv.hashPassword(pw); err != nil {
			return err
		}
	}
	if err := s.srv.store.CreateRoom(ctx, r); err != nil {
		return err
	}
	// A room of this name may have been deleted behind the daemon's back
	// (chatd userdel deletes the user's rooms): its history and anyone
	// still inside must not become part of the new room.
	s.srv.logs.drop(name)
	for _, m := range s.srv.hub.members(name) {
		m.send(roomEvent(roomClosed, name, "chatd"))
		s.srv.moveTo(m, chatd.Lobby, false)
	}
	s.reply(okEvent("create", "created room "+name+"; you own it", nil, f("room", name), f("locked", pw != "")))
	s.srv.moveTo(s, name, true)
	return nil
}

func cmdJoin(ctx context.Context, s *session, args string) error {
	name, pw := splitWord(args)
	if name == "" || strings.ContainsAny(pw, " \t") {
		return badArgs("join")
	}
	r, err := s.srv.store.RoomByName(ctx, name)
	if err != nil {
		return err
	}
	if chatd.Key(s.srv.hub.roomOf(s)) == chatd.Key(r.Name) {
		s.reply(okEvent("join", "you are already in "+r.Name, nil, f("room", r.Name)))
		return nil
	}
	if r.Locked() && !s.admin && chatd.Key(r.Owner) != chatd.Key(s.user) {
		// Each guess costs an argon2 hash; without a limit one user could
		// keep the hash gate busy and lock everyone else out of logging in.
		if s.roomGuesses == nil {
			s.roomGuesses = newBucket(roomGuessRate, roomGuessBurst, s.srv.now())
		}
		if !s.roomGuesses.allow(s.srv.now()) {
			return chatd.Errorf(chatd.ERateLimited, "too many room password tries; wait a little")
		}
		match, err := s.srv.verifyPassword(r.PassHash, pw)
		if err != nil {
			return err
		}
		if !match {
			return chatd.Errorf(chatd.EBadRoomPassword, "%s needs the right password: join %s PASSWORD", r.Name, r.Name)
		}
	}
	s.reply(okEvent("join", "you are now in "+r.Name, nil, f("room", r.Name)))
	s.srv.moveTo(s, r.Name, true)
	return nil
}

func cmdLeave(ctx context.Context, s *session, _ string) error {
	if chatd.Key(s.srv.hub.roomOf(s)) == chatd.Key(chatd.Lobby) {
		s.reply(okEvent("leave", "you are already in the "+chatd.Lobby, nil, f("room", chatd.Lobby)))
		return nil
	}
	s.reply(okEvent("leave", "you are back in the "+chatd.Lobby, nil, f("room", chatd.Lobby)))
	s.srv.moveTo(s, chatd.Lobby, true)
	return nil
}

func cmdClose(ctx context.Context, s *session, args string) error {
	name := strings.TrimSpace(args)
	if name == "" {
		name = s.srv.hub.roomOf(s)
	}
	r, err := s.srv.store.RoomByName(ctx, name)
	if err != nil {
		return err
	}
	if chatd.Key(r.Name) == chatd.Key(chatd.Lobby) {
		return chatd.Errorf(chatd.ENotPermitted, "the %s cannot be closed", chatd.Lobby)
	}
	if !s.admin && chatd.Key(r.Owner) != chatd.Key(s.user) {
		return chatd.Errorf(chatd.ENotPermitted, "only the owner of %s or a server admin can close it", r.Name)
	}
	if err := s.srv.store.DeleteRoom(ctx, r.Name); err != nil {
		return err
	}
	s.srv.logs.drop(r.Name)
	members := s.srv.hub.members(r.Name)
	fanout(members, roomEvent(roomClosed, r.Name, s.user), nil, nil)
	for _, m := range members {
		s.srv.moveTo(m, chatd.Lobby, false)
	}
	s.reply(okEvent("close", "closed room "+r.Name, nil, f("room", r.Name)))
	return nil
}

// ---- passwd ----

func cmdPasswd(ctx context.Context, s *session, args string) error {
	if args != "" {
		return chatd.Errorf(chatd.EBadArgs, "usage: passwd (you will be asked for the passwords)")
	}
	old, ok := s.ask("old_password", true)
	if !ok {
		return nil
	}
	pw, ok := s.ask("new_password", true)
	if !ok {
		return nil
	}
	repeat, ok := s.ask("repeat_password", true)
	if !ok {
		return nil
	}
	u, err := s.srv.store.UserByName(ctx, s.user)
	if err != nil {
		return err
	}
	// The old password is a login in disguise: the same lockout applies,
	// so an unattended session cannot be used to guess it.
	if until, err := s.lockedUntil(ctx, u.Name); err != nil {
		return err
	} else if !until.IsZero() {
		return lockedOut(until)
	}
	match, err := s.srv.verifyPassword(u.PassHash, old)
	if err != nil {
		return err
	}
	if err := s.srv.store.RecordAttempt(ctx, u.Name, s.addr, s.srv.now(), match); err != nil {
		return err
	}
	if !match {
		return chatd.Errorf(chatd.EBadCredentials, "the old password is wrong; nothing changed")
	}
	if err := s.srv.cfg().Accounts.CheckPassword(pw); err != nil {
		return err
	}
	if pw != repeat {
		return chatd.Errorf(chatd.EPasswordMismatch, "the two new passwords differ; nothing changed")
	}
	hash, err := s.srv.hashPassword(pw)
	if err != nil {
		return err
	}
	if err := s.srv.store.SetPassword(ctx, s.user, hash); err != nil {
		return err
	}
	s.reply(okEvent("passwd", "your password was changed", nil))
	return nil
}
