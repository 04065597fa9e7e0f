// The IRC dialect (docs/irc.md, PROTOCOL.md section 11): an IRC
// connection is a session like any other, with its own registration in
// front of the shared login (enter) and its lines translated into the
// same command handlers. What the session is sent is rendered into IRC
// lines per session by ircrender.go.

package daemon

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"chatd"
)

// The IRCv3 capabilities chatd offers, as bits of ircState.caps.
const (
	capServerTime uint64 = 1 << iota
	capMessageTags
	capEchoMessage
	capMultiPrefix
	capAwayNotify
	capAccountTag
	capExtendedJoin
	capCapNotify
	capInviteNotify
	capSASL
	capBatch
	capLabeledResponse
	capUserhostInNames
	capAccountRegistration
	capChathistory     // irc_history.go
	capReadMarker      // irc_history.go
	capRedaction       // irc_actions.go
	capExtendedMonitor // irc_monitor.go
	capMetadata        // irc_metadata.go
	capSetname         // irc_setname.go
	capAccountNotify   // irc_account.go
	capMultiline       // irc_multiline.go
	capChannelRename   // rename.go
	capEventPlayback   // irc_history.go
)

// ircCaps lists the capabilities in the order CAP LS names them.
var ircCaps = []struct {
	name  string
	value string // shown after '=' to CAP LS 302 clients
	bit   uint64
}{
	{"account-notify", "", capAccountNotify},
	{"account-tag", "", capAccountTag},
	{"away-notify", "", capAwayNotify},
	{"batch", "", capBatch},
	{"draft/account-registration", "", capAccountRegistration},
	{"cap-notify", "", capCapNotify},
	{"draft/chathistory", "", capChathistory},
	{"draft/event-playback", "", capEventPlayback},
	{"draft/channel-rename", "", capChannelRename},
	{"draft/metadata-3", ircMetaCap, capMetadata},
	{"draft/multiline", ircMultilineCap, capMultiline},
	{"draft/message-redaction", "", capRedaction},
	{"draft/read-marker", "", capReadMarker},
	{"echo-message", "", capEchoMessage},
	{"extended-join", "", capExtendedJoin},
	{"extended-monitor", "", capExtendedMonitor},
	{"invite-notify", "", capInviteNotify},
	{"labeled-response", "", capLabeledResponse},
	{"message-tags", "", capMessageTags},
	{"multi-prefix", "", capMultiPrefix},
	{"sasl", "PLAIN", capSASL},
	{"server-time", "", capServerTime},
	{"setname", "", capSetname},
	{"userhost-in-names", "", capUserhostInNames},
}

// ircPseudoUser is the nick that runs chatd commands (PRIVMSG chatd :who).
const ircPseudoUser = "chatd"

// ircState is what an IRC session adds to a session.
type ircState struct {
	// Reader goroutine only.
	nick       string // the nick asked for, until registration
	userSent   bool   // USER came
	username   string // USER's user name, with a ~ (no ident check)
	realname   string // USER's real name
	capPending bool   // CAP LS or REQ came, and no CAP END yet
	pass       string // PASS, until registration
	serverPass string // PASS of the server password (irc_register.go)
	saslBuf    string // AUTHENTICATE chunks of the exchange in progress
	saslMech   bool   // AUTHENTICATE PLAIN came
	account    *chatd.User
	guest      bool
	relogin    bool // logging in to another account (irc_account.go): no 001 again
	// sink, when not nil, collects the replies of a chatd handler that
	// an IRC command runs, for the command to translate (session.reply).
	sink *[]*event
	// out collects the lines the IRC command being handled answers
	// directly; flushed as one event after it (ircState.flush).
	out []byte
	// label is the labeled-response label of the line being handled.
	label string

	// Atomics, written by the reader, read by whoever renders (or
	// queues: collecting).
	caps    atomic.Uint64
	wallops atomic.Bool            // user mode +w: WALLOPS are shown (irc_wallops.go)
	nickNow atomic.Pointer[string] // the nick the client is known by
	// collecting is the label of the labeled command being handled:
	// the answers the reader queues to its own session with it go into
	// out instead of the outbox, so that the command's whole response
	// is one labeled response (session.enqueue, ircState.divert).
	collecting atomic.Pointer[string]
	// invisible is user mode +i: a masked WHO hides the user
	// (irc_invisible.go).
	invisible atomic.Bool
	// ml is the multiline batch the client has open, nil for none
	// (irc_multiline.go); reader goroutine only.
	ml *mlBatch
	// The line being sent, set around the chatd handler that sends it
	// and read by it through the session's nil-safe getters (reader
	// goroutine only): lineNotice says it is a NOTICE (ircPrivmsg),
	// lineTags are its client-only tags, lineParts the lines of the
	// multiline batch sent as one room line (irc_multiline.go), and
	// redactReason the reason of the REDACT being run, which the
	// delete shows to the others. They live here, not in session, so
	// that the sessions of other dialects do not carry them.
	lineNotice   bool
	lineTags     map[string]string
	lineParts    []mlPart
	redactReason string
	// quitReason is what the user said logging out (QUIT's message, or
	// why an account change logs the old user out), shown to the others
	// with the logout; reader goroutine only.
	quitReason string

	// Owned by the goroutine holding the output (as session.outMode):
	// the nicks this client was shown in one of its channels, so that a
	// logout becomes a QUIT only for those who could see the user.
	known nickSet

	// Reader goroutine only (irc_history.go): batches opened so far,
	// for their ids.
	batches uint64
	// MONITOR's list (irc_monitor.go), by key: the account's watch list
	// (watched, replaced whole at login and by every watch or unwatch of
	// the account, hub.setWatching) and the nicks of this connection that
	// are no account or are the user's own (monitor, replaced whole by
	// the reader). Read by whoever renders.
	watched atomic.Pointer[map[string]string]
	monitor atomic.Pointer[map[string]string]
	// Owned by the goroutine holding the output (as known): whether the
	// client was last told each monitored nick is online (730) or not.
	monTold map[string]bool
	// draft/metadata-3 (irc_metadata.go).
	meta ircMeta
}

func (st *ircState) has(c uint64) bool { return st.caps.Load()&c != 0 }

// me is the client's nick as lines addressed to it show it ("*" before
// registration).
func (st *ircState) me() string {
	if p := st.nickNow.Load(); p != nil {
		return *p
	}
	return "*"
}

// serverName is the name the server gives itself in IRC lines.
func (s *Server) serverName() string { return s.cfg().IRC.ServerName }

// ircHost is the host part of every user's mask: chatd does not show
// addresses.
const ircHost = "chatd"

func userMask(nick string) string { return nick + "!" + nick + "@" + ircHost }

// numeric adds a numeric reply to the lines of the command being handled.
func (s *session) numeric(code string, params ...string) {
	st := s.irc
	st.out = appendIRC(st.out, nil, s.srv.serverName(), code, append([]string{st.me()}, params...)...)
}

// ircLineOut adds any line to the lines of the command being handled.
func (s *session) ircLineOut(source, command string, params ...string) {
	s.irc.out = appendIRC(s.irc.out, nil, source, command, params...)
}

// ircFlush queues the lines the command answered directly, as one event
// through the reader's flusher, like a reply. With labeled-response they
// carry the command's label: one line tagged, several in a batch, none
// acknowledged.
func (s *session) ircFlush() {
	st := s.irc
	out := st.out
	st.out = st.out[:0]
	if st.label != "" && st.has(capLabeledResponse) {
		out = labelLines(out, st.label, s.srv.serverName(), st.has(capBatch))
	}
	if len(out) == 0 {
		return
	}
	s.sendVia(&s.out, &event{typ: "irc", text: string(out)})
}

// labelLines puts label on lines (CRLF-terminated): an ACK for none, a
// label tag on one, a labeled-response batch around several.
func labelLines(lines []byte, label, server string, batch bool) []byte {
	n := strings.Count(string(lines), "\r\n")
	tag := []ircTag{{"label", label}}
	switch {
	case n == 0:
		return appendIRC(nil, tag, server, "ACK")
	case n == 1:
		return addTags(nil, lines, tag)
	case oneBatch(lines):
		// One batch (a multiline message): its start carries the label.
		return addTags(nil, lines, tag)
	case !batch:
		return addTags(nil, lines[:strings.Index(string(lines), "\r\n")+2], tag)
	}
	id := "l" + label
	out := appendIRC(nil, tag, server, "BATCH", "+"+id, "labeled-response")
	for _, l := range strings.SplitAfter(string(lines), "\r\n") {
		if l != "" {
			out = addTags(out, []byte(l), []ircTag{{"batch", id}})
		}
	}
	return appendIRC(out, nil, server, "BATCH", "-"+id)
}

// addTags appends line with tags added to those it has.
func addTags(b, line []byte, tags []ircTag) []byte {
	b = appendTags(append(b, '@'), tags)
	if len(line) > 0 && line[0] == '@' {
		return append(append(b, ';'), line[1:]...)
	}
	return append(append(b, ' '), line...)
}

// runIRC is run for an IRC connection: registration, then IRC lines.
func (s *session) runIRC(ctx context.Context) {
	s.serve(func() bool {
		if mc, ok := s.conn.(meteredConn); ok {
			mc.OnBytes(s.chargeBytes)
		}
		if !s.ircRegister(ctx) {
			return false
		}
		s.ircJoinRooms(ctx)
		return s.ircLines(ctx)
	})
}

// ircLines runs a registered client's lines until the session ends
// (false) or stops to be handed over (true, upgrade.go). An IRC session
// never parks (park).
func (s *session) ircLines(ctx context.Context) bool {
	return s.lines(ctx, false, s.ircLine)
}

// ircLine handles one line from a registered client.
func (s *session) ircLine(ctx context.Context, line string) {
	if ircTooLong(line) {
		s.numeric("417", "Input line was too long")
		s.ircFlush()
		return
	}
	m, err := parseIRC(line)
	if err != nil {
		return
	}
	st := s.irc
	st.label, s.label = "", ""
	if l := m.tags["label"]; l != "" && st.has(capLabeledResponse) {
		st.label, s.label = l, l
		st.collecting.Store(&l)
	}
	defer func() {
		st.collecting.Store(nil)
		s.ircFlush()
	}()
	if s.ircBatched(ctx, &m) {
		return
	}
	h, ok := ircCommands[m.command]
	if !ok {
		s.numeric("421", m.command, "Unknown command")
		return
	}
	if len(m.params) < h.min {
		s.numeric("461", m.command, "Not enough parameters")
		return
	}
	s.out.flush()
	h.run(ctx, s, &m)
}

// ircHandler is one IRC command: how many parameters it needs at least,
// and what it does.
type ircHandler struct {
	min int
	run func(ctx context.Context, s *session, m *ircMsg)
}

// ircCommands is the table of the IRC commands a registered client may
// send; adding one is one entry and one function.
var ircCommands map[string]ircHandler

func init() {
	ircCommands = map[string]ircHandler{
		"PING":     {1, ircPing},
		"PONG":     {0, func(context.Context, *session, *ircMsg) {}},
		"QUIT":     {0, ircQuit},
		"PRIVMSG":  {0, ircPrivmsg},
		"NOTICE":   {0, ircPrivmsg},
		"JOIN":     {1, ircJoin},
		"PART":     {1, ircPart},
		"TOPIC":    {1, ircTopic},
		"NAMES":    {0, ircNames},
		"LIST":     {0, ircList},
		"WHO":      {0, ircWho},
		"WHOIS":    {1, ircWhois},
		"AWAY":     {0, ircAway},
		"KICK":     {2, ircKick},
		"INVITE":   {0, ircInvite},
		"MODE":     {1, ircMode},
		"NICK":     {0, ircNickLater},
		"USER":     {0, ircAlready},
		"PASS":     {0, ircAlready},
		"CAP":      {1, ircCap},
		"MOTD":     {0, func(_ context.Context, s *session, _ *ircMsg) { s.ircMOTD() }},
		"LUSERS":   {0, ircLusers},
		"VERSION":  {0, ircVersion},
		"TIME":     {0, ircTime},
		"ISON":     {1, ircIson},
		"WHOWAS":   {0, ircWhowasCmd},
		"OPER":     {2, ircOper},
		"KILL":     {1, ircKill},
		"REGISTER": {3, ircRegisterAccount},
		"INFO":     {0, ircInfo},
		"LINKS":    {0, ircLinks},
		"USERHOST": {1, ircUserhost},
		// irc_history.go
		"CHATHISTORY": {1, ircChathistory},
		"MARKREAD":    {0, ircMarkread},
		// irc_actions.go
		"REDACT": {2, ircRedact},
		"TAGMSG": {1, ircTagmsg},
		// irc_monitor.go
		"MONITOR": {1, ircMonitor},
		// irc_metadata.go
		"METADATA": {0, ircMetadata},
		// irc_setname.go
		"SETNAME": {1, ircSetname},
		// irc_wallops.go
		"WALLOPS": {1, ircWallops},
		// irc_multiline.go
		"BATCH": {1, ircBatch},
		// rename.go
		"RENAME": {2, ircRename},
		// irc_help.go
		"HELP":   {0, ircHelpCmd},
		"HELPOP": {0, ircHelpCmd},
		// irc_account.go
		"AUTHENTICATE": {1, ircAuthenticateLater},
	}
}

// ---- registration ----

// ircRegister reads lines until the client is registered and logged in
// (true) or the session is over (false). The login deadline
// (server.login_timeout) and the rate limit apply as to any login.
func (s *session) ircRegister(ctx context.Context) bool {
	st := s.irc
	for !s.ending() {
		line, ok := s.readLine()
		if !ok {
			return false
		}
		m, err := parseIRC(line)
		if err != nil {
			continue
		}
		st.label = ""
		switch m.command {
		case "CAP":
			if len(m.params) == 0 {
				s.numeric("461", "CAP", "Not enough parameters")
			} else {
				ircCap(ctx, s, &m)
			}
		case "NICK":
			s.ircNick(&m)
		case "USER":
			if len(m.params) < 4 || m.params[3] == "" {
				s.numeric("461", "USER", "Not enough parameters")
			} else {
				st.userSent = true
				st.username = "~" + strings.TrimLeft(m.params[0], "~")
				if len(st.username) > 11 {
					st.username = st.username[:11]
				}
				st.realname = m.params[3]
			}
		case "PASS":
			if len(m.params) < 1 {
				s.numeric("461", "PASS", "Not enough parameters")
			} else {
				s.ircPass(m.params[0])
			}
		case "AUTHENTICATE":
			if st.account != nil {
				s.numeric("907", "You have already authenticated using SASL")
			} else if u := s.ircAuthenticate(ctx, &m); u != nil {
				st.account = u
			}
		case "METADATA":
			ircMetadata(ctx, s, &m)
		case "PING":
			if len(m.params) > 0 {
				ircPing(ctx, s, &m)
			}
		case "PONG":
		case "REGISTER":
			s.ircRegisterEarly(ctx, &m)
		case "QUIT":
			s.ircFlush()
			s.end(byeLogout, "Quit")
			return false
		default:
			s.numeric("451", m.command, "You have not registered")
		}
		s.ircFlush()
		if st.nick != "" && st.userSent && !st.capPending {
			if done, ok := s.ircComplete(ctx); done {
				return ok
			}
		}
	}
	return false
}

// ircNick handles NICK before registration: the nick is checked as a
// name; whose it is is decided when registration completes.
func (s *session) ircNick(m *ircMsg) {
	if len(m.params) == 0 || m.params[0] == "" {
		s.numeric("431", "No nickname given")
		return
	}
	nick := m.params[0]
	if chatd.Key(nick) == ircPseudoUser {
		s.numeric("432", nick, "That name is chatd's own")
		return
	}
	if err := s.srv.cfg().Accounts.CheckName(nick); err != nil || strings.ContainsAny(nick, "#,*?!@:") {
		s.numeric("432", nick, "Erroneous nickname")
		return
	}
	s.irc.nick = nick
}

// ircAuthenticate runs SASL PLAIN: AUTHENTICATE PLAIN, "+", then the
// base64 of authzid NUL authcid NUL password (in 400-byte chunks). The
// password is checked at once, through the same gate and lockout as every
// login. It returns the account once the exchange succeeded, nil while it
// goes on or when it failed.
func (s *session) ircAuthenticate(ctx context.Context, m *ircMsg) *chatd.User {
	st := s.irc
	arg := m.param(0)
	switch {
	case arg == "*":
		st.saslMech, st.saslBuf = false, ""
		s.numeric("906", "SASL authentication aborted")
		return nil
	case !st.saslMech:
		if strings.ToUpper(arg) != "PLAIN" {
			s.numeric("908", "PLAIN", "are available SASL mechanisms")
			s.numeric("904", "SASL authentication failed")
			return nil
		}
		st.saslMech = true
		s.ircLineOut("", "AUTHENTICATE", "+")
		return nil
	}
	if len(arg) > 400 {
		st.saslMech, st.saslBuf = false, ""
		s.numeric("905", "SASL message too long")
		return nil
	}
	if arg != "+" {
		st.saslBuf += arg
	}
	if len(st.saslBuf) > 1200 {
		st.saslMech, st.saslBuf = false, ""
		s.numeric("904", "SASL authentication failed: the exchange is too long")
		return nil
	}
	if len(arg) == 400 {
		return nil // more chunks follow
	}
	raw, err := base64.StdEncoding.DecodeString(st.saslBuf)
	st.saslMech, st.saslBuf = false, ""
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 || parts[1] == "" || (parts[0] != "" && chatd.Key(parts[0]) != chatd.Key(parts[1])) {
		s.numeric("904", "SASL authentication failed")
		return nil
	}
	u, err := s.ircCheck(ctx, parts[1], parts[2])
	if err != nil {
		s.ircLoginFailed("904", err)
		return nil
	}
	s.numeric("900", userMask(u.Name), u.Name, "You are now logged in as "+u.Name)
	s.numeric("903", "SASL authentication successful")
	return u
}

// ircCheck checks name's password as the telnet login does (the lockout,
// the hash gate, the attempt recorded); an unknown name is checked against
// the dummy hash.
func (s *session) ircCheck(ctx context.Context, name, pw string) (*chatd.User, error) {
	u, err := s.srv.store.UserByName(ctx, name)
	if err != nil && chatd.ErrorCode(err) != chatd.ENoSuchUser {
		return nil, err
	}
	if err := s.checkLogin(ctx, u, name, pw, "listener", s.info.Listener); err != nil {
		return nil, err
	}
	return u, nil
}

// ircLoginFailed answers a failed password check with code (904 for SASL,
// 464 for PASS) and the reason.
func (s *session) ircLoginFailed(code string, err error) {
	s.srv.metrics.login(string(chatd.ErrorCode(err)))
	text := "Password incorrect"
	switch chatd.ErrorCode(err) {
	case chatd.ELockedOut, chatd.EServerBusy:
		text = chatd.ErrorMessage(err)
	case chatd.EBadCredentials:
	default:
		text = "Login failed: " + chatd.ErrorMessage(err)
	}
	if code == "904" {
		s.numeric("904", "SASL authentication failed: "+text)
		return
	}
	s.numeric(code, text)
}

// ircComplete finishes registration once NICK, USER and CAP END are in:
// it picks the account (SASL's, PASS's, or a guest) and logs in through
// the shared enter. done is false when the client must send another NICK
// first; ok says whether the user is in.
func (s *session) ircComplete(ctx context.Context) (done, ok bool) {
	st := s.irc
	if !s.ircServerPassOK() {
		s.srv.metrics.login(string(chatd.EBadCredentials))
		s.numeric("464", "Password incorrect: this server needs its password (PASS)")
		s.ircFlush()
		s.end(byeError, "Bad password")
		return true, false
	}
	u := st.account
	if u == nil && st.pass != "" {
		name, pw, found := strings.Cut(st.pass, ":")
		if !found {
			name, pw = st.nick, st.pass
		}
		var err error
		if u, err = s.ircCheck(ctx, name, pw); err != nil {
			s.ircLoginFailed("464", err)
			s.ircFlush()
			s.end(byeError, "Bad password")
			return true, false
		}
	}
	if u == nil {
		switch _, err := s.srv.store.UserByName(ctx, st.nick); {
		case err == nil:
			s.numeric("433", st.nick, "That name is a registered account: log in with SASL or PASS account:password")
			st.nick = ""
			s.ircFlush()
			return false, false
		case chatd.ErrorCode(err) != chatd.ENoSuchUser:
			s.numeric("464", "Login failed: "+chatd.ErrorMessage(err))
			s.ircFlush()
			s.end(byeError, "login failed")
			return true, false
		case !s.srv.cfg().IRC.Guests:
			s.numeric("464", "This server needs an account: log in with SASL or PASS account:password")
			s.ircFlush()
			s.end(byeError, "no account")
			return true, false
		}
		var err error
		if u, err = s.ircGuest(ctx, st.nick); err != nil {
			if chatd.ErrorCode(err) == chatd.EUserExists {
				s.numeric("433", st.nick, "Nickname is already in use")
				st.nick = ""
				s.ircFlush()
				return false, false
			}
			s.numeric("432", st.nick, "Erroneous nickname: "+chatd.ErrorMessage(err))
			st.nick = ""
			s.ircFlush()
			return false, false
		}
		st.guest = true
	}
	old := st.nick
	st.nickNow.Store(&u.Name)
	s.srv.ircIdents.Store(chatd.Key(u.Name), &ircIdent{username: st.username, realname: st.realname, guest: st.guest, oper: u.Admin})
	if chatd.Key(old) != chatd.Key(u.Name) || old != u.Name {
		// The nick is the account's name, as registered.
		s.ircLineOut(userMask(old), "NICK", u.Name)
		s.ircFlush()
	}
	s.ircMetaLogin(ctx, u.Name)
	if !s.enter(ctx, u) {
		if st.guest {
			s.ircDropGuest()
		}
		s.end(byeError, "login failed")
		return true, false
	}
	return true, true
}

// ircGuest makes the guest account name: its hash is GuestPassHash (no
// login can ever match it), it is in no room, and it is removed when its
// session ends.
func (s *session) ircGuest(ctx context.Context, name string) (*chatd.User, error) {
	u, err := s.srv.store.CreateUser(ctx, name, chatd.GuestPassHash, false)
	if err != nil {
		return nil, err
	}
	if _, err := s.srv.store.RemoveMember(ctx, u.Name, chatd.Lobby); err != nil {
		s.srv.log.Error("guest leaves the lobby", "user", u.Name, "err", err)
	}
	s.srv.connLog.Info("guest", "user", u.Name, "addr", s.addr)
	return u, nil
}

// ircDropGuest removes this session's guest account, the rooms it owns
// (whose members are told) and its memberships with it.
func (s *session) ircDropGuest() {
	name := s.irc.nick
	if p := s.irc.nickNow.Load(); p != nil {
		name = *p
	}
	ctx, cancel := s.srv.finishCtx()
	defer cancel()
	rooms, err := s.srv.store.Rooms(ctx)
	if err != nil {
		s.srv.log.Error("list rooms of a guest", "user", name, "err", err)
	}
	deleted, err := s.srv.store.DeleteGuest(ctx, name)
	if err != nil {
		s.srv.log.Error("delete guest", "user", name, "err", err)
		return
	}
	s.srv.ircIdents.Delete(chatd.Key(name))
	if !deleted {
		return
	}
	for _, r := range rooms {
		if chatd.Key(r.Owner) == chatd.Key(name) {
			if err := s.srv.effect(ctx, &note{Kind: noteClose, Room: r.Name, By: ircPseudoUser}); err != nil {
				s.srv.log.Error("close a guest's room", "room", r.Name, "err", err)
			}
		}
	}
}

// ircIdent is what an IRC user said of itself at registration.
type ircIdent struct {
	username, realname string
	guest              bool
	oper               bool // a server admin
}

// isGuest reports whether name is one of this node's IRC guests.
func (s *Server) isGuest(name string) bool {
	v, ok := s.ircIdents.Load(chatd.Key(name))
	return ok && v.(*ircIdent).guest
}

// isOper reports whether name's latest IRC registration here is a
// server admin's (or became one by OPER).
func (s *Server) isOper(name string) bool {
	v, ok := s.ircIdents.Load(chatd.Key(name))
	return ok && v.(*ircIdent).oper
}

// identOf is name's IRC user name and real name: what its latest IRC
// registration on this node said, else the name itself.
func (s *Server) identOf(name string) (username, realname string) {
	if v, ok := s.ircIdents.Load(chatd.Key(name)); ok {
		id := v.(*ircIdent)
		return id.username, id.realname
	}
	return name, name
}

// ircJoinRooms shows the names of the rooms the user is in at login (the
// welcome's rendering JOINed them).
func (s *session) ircJoinRooms(ctx context.Context) {
	for _, r := range s.srv.hub.roomsOf(s) {
		s.ircJoinMarker(ctx, r)
		s.ircNames(ctx, r)
		s.ircMetaJoined(ctx, r)
	}
	s.ircFlush()
}

// ---- capabilities ----

func ircCap(_ context.Context, s *session, m *ircMsg) {
	st := s.irc
	sub := strings.ToUpper(m.params[0])
	switch sub {
	case "LS":
		if s.user == "" {
			st.capPending = true
		}
		v302 := m.param(1) != "" && m.param(1) >= "302"
		if v302 {
			st.caps.Or(capCapNotify) // implied by 302
		}
		var names []string
		for _, c := range ircCaps {
			if !s.srv.capOffered(c.bit) {
				continue
			}
			n := c.name
			if v := s.srv.capValue(c.bit, c.value); v302 && v != "" {
				n += "=" + v
			}
			names = append(names, n)
		}
		s.ircLineOut(s.srv.serverName(), "CAP", st.me(), "LS", strings.Join(names, " "))
	case "LIST":
		var names []string
		for _, c := range ircCaps {
			if st.has(c.bit) {
				names = append(names, c.name)
			}
		}
		s.ircLineOut(s.srv.serverName(), "CAP", st.me(), "LIST", strings.Join(names, " "))
	case "REQ":
		if s.user == "" {
			st.capPending = true
		}
		want := m.param(1)
		var on, off uint64
		ok := strings.TrimSpace(want) != ""
		for _, w := range strings.Fields(want) {
			remove := strings.HasPrefix(w, "-")
			bit := capBit(strings.TrimPrefix(w, "-"))
			if bit == 0 || !s.srv.capOffered(bit) {
				ok = false
				break
			}
			if remove {
				off |= bit
			} else {
				on |= bit
			}
		}
		if !ok {
			s.ircLineOut(s.srv.serverName(), "CAP", st.me(), "NAK", want)
			return
		}
		for {
			cur := st.caps.Load()
			if st.caps.CompareAndSwap(cur, (cur|on)&^off) {
				break
			}
		}
		if off&(capMetadata|capBatch) != 0 {
			st.meta.subs.Store(nil) // draft/metadata-3: no longer metadata-aware
		}
		s.ircLineOut(s.srv.serverName(), "CAP", st.me(), "ACK", want)
	case "END":
		st.capPending = false
	default:
		s.numeric("410", m.params[0], "Invalid CAP command")
	}
}

// capOffered reports whether the server offers the capability c now:
// draft/account-registration only while accounts.registration is open.
func (s *Server) capOffered(c uint64) bool {
	return c != capAccountRegistration || s.cfg().Accounts.Registration == "open"
}

func capBit(name string) uint64 {
	for _, c := range ircCaps {
		if c.name == name {
			return c.bit
		}
	}
	return 0
}

// listenIRC binds irc.listen and irc.tls_listen, when set (Listen).
func (s *Server) listenIRC() error {
	cfg := s.cfg()
	var err error
	if s.ircLn == nil && cfg.IRC.Listen != "" {
		if s.ircLn, err = net.Listen("tcp", cfg.IRC.Listen); err != nil {
			return fmt.Errorf("listen on %s (irc.listen): %w", cfg.IRC.Listen, err)
		}
	}
	if s.ircLn != nil {
		s.keepRaw("irc", s.ircLn)
	}
	if cfg.IRC.TLSListen == "" {
		return nil
	}
	if s.cert.Load() == nil {
		cert, err := loadPair("server", cfg.Server.TLSCert, cfg.Server.TLSKey)
		if err != nil {
			return err
		}
		s.cert.Store(cert)
	}
	ln := s.ircTLSLn // passed by a hand-over
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.IRC.TLSListen); err != nil {
			return fmt.Errorf("listen on %s (irc.tls_listen): %w", cfg.IRC.TLSListen, err)
		}
	}
	s.keepRaw("ircs", ln)
	s.ircTLSLn = tls.NewListener(ln, tlsConfig(&s.cert))
	return nil
}

// IRCAddr is the address of the IRC listener, nil when it is off.
func (s *Server) IRCAddr() net.Addr {
	if s.ircLn == nil {
		return nil
	}
	return s.ircLn.Addr()
}

// divert takes ev into the lines of the labeled command being handled
// when it is that command's own answer (it carries the command's label),
// rendered at once, and reports whether it did. Only the reader queues
// events with that label, so out stays the reader's.
func (st *ircState) divert(s *session, ev *event) bool {
	l := st.collecting.Load()
	if l == nil || ev.str("label") != *l {
		return false
	}
	st.out = s.renderIRC(st.out, ev, false)
	return true
}

// ircTooLong reports a line over IRC's limits: tags of more than 4094
// bytes (IRCv3 message-tags), or more than 510 bytes after them.
func ircTooLong(line string) bool {
	if tags, rest, ok := strings.Cut(line, " "); ok && strings.HasPrefix(line, "@") {
		return len(tags)-1 > 4094 || len(strings.TrimLeft(rest, " ")) > 510
	}
	return len(line) > 510
}

// IRCTLSAddr is the address of the IRC TLS listener, nil when it is off.
func (s *Server) IRCTLSAddr() net.Addr {
	if s.ircTLSLn == nil {
		return nil
	}
	return s.ircTLSLn.Addr()
}

// The IRC line being sent (ircState's line fields), as the chatd
// handlers read it: none for a session of another dialect (st nil).

func (st *ircState) sendingNotice() bool {
	return st != nil && st.lineNotice
}

func (st *ircState) sendingTags() map[string]string {
	if st == nil {
		return nil
	}
	return st.lineTags
}

func (st *ircState) sendingParts() []mlPart {
	if st == nil {
		return nil
	}
	return st.lineParts
}

// quitting is the reason the user gave for logging out, "" for none.
func (st *ircState) quitting() string {
	if st == nil {
		return ""
	}
	return st.quitReason
}

func (st *ircState) redacting() string {
	if st == nil {
		return ""
	}
	return st.redactReason
}
