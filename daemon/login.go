package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"chatd"
	"chatd/internal/ratelimit"
)

// login runs the login flow of PROTOCOL.md section 3 until the user is in
// (true) or the session is over (false).
func (s *session) login(ctx context.Context) bool {
	for !s.ending() {
		s.label = "" // a new login attempt answers nothing yet
		name, ok := s.ask("username", false)
		if !ok {
			return false
		}
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		s.pendingName = name
		u, err := s.srv.store.UserByName(ctx, name)
		switch {
		case err == nil:
			if s.passwordLogin(ctx, u) {
				return true
			}
		case chatd.ErrorCode(err) != chatd.ENoSuchUser:
			s.fail("login", err)
		case s.srv.cfg().Accounts.Registration == "open":
			if s.register(ctx, name) {
				return true
			}
		default:
			// Closed registration: behave exactly as for a wrong password.
			s.passwordLogin(ctx, nil)
		}
	}
	return false
}

// passwordLogin asks for the password of u (nil: an unknown name, which is
// checked against a dummy hash so it takes the same time) and logs in.
func (s *session) passwordLogin(ctx context.Context, u *chatd.User) bool {
	pw, ok := s.ask("password", true)
	if !ok {
		return false
	}
	if err := s.checkLogin(ctx, u, s.pendingName, pw); err != nil {
		if chatd.ErrorCode(err) == chatd.EBadCredentials {
			err = chatd.Errorf(chatd.EBadCredentials, "wrong username or password")
		}
		s.fail("login", err)
		return false
	}
	return s.enter(ctx, u)
}

// checkLogin checks pw for logging in as u, or as name when u is nil (an
// unknown name, checked against the dummy hash), the same way on every
// transport (checkPassword), and logs a wrong password in the connection
// log with attrs, which say how the client came.
func (s *session) checkLogin(ctx context.Context, u *chatd.User, name, pw string, attrs ...any) error {
	hash := ""
	if u != nil {
		name, hash = u.Name, u.PassHash
	}
	err := s.checkPassword(ctx, name, hash, pw)
	if chatd.ErrorCode(err) == chatd.EBadCredentials {
		s.srv.connLog.Info("login failed", append([]any{"user", name, "addr", s.addr}, attrs...)...)
	}
	return err
}

// checkPassword is the one place a password typed by a person is checked
// against an account, for login and for passwd alike. hash "" stands for an
// unknown name: a dummy hash is checked instead, so the answer takes the
// same time, and it never matches. It applies the lockout before the check,
// records the attempt, and answers the failure that sets a lock with
// locked_out at once. It returns nil when the password is right, else
// bad_credentials, locked_out (with its end), server_busy or an internal
// error.
func (s *session) checkPassword(ctx context.Context, name, hash, pw string) error {
	// One check of a name at a time: a failure is recorded before the
	// next check of that name reads the count, so parallel connections
	// get exactly lockout.attempts tries between them.
	defer s.srv.nameLocks.lock(chatd.Key(name))()
	until, fails, err := s.lockState(ctx, name)
	if err != nil {
		return err
	} else if !until.IsZero() {
		return lockedOut(until)
	}
	// A guest's account (GuestPassHash) is checked like an unknown name.
	known := hash != "" && hash != chatd.GuestPassHash
	if !known {
		hash = s.srv.dummyHash
	}
	match, verr := s.verifyPassword(hash, pw)
	if chatd.ErrorCode(verr) == chatd.EServerBusy {
		return verr
	}
	if verr != nil {
		s.srv.log.Error("stored password hash unreadable", "user", name, "err", verr)
	}
	match = match && known && verr == nil
	// A success resets the count of failures; with none counted it would
	// change nothing, so the usual login writes nothing here (a commit
	// less per login, which a login storm feels).
	if !match || fails > 0 {
		if err := s.srv.store.RecordAttempt(ctx, name, s.addr, s.srv.now(), match); err != nil {
			// A database that refuses writes (a full disk) must not
			// refuse a right password; /healthz reports the failed
			// write. A wrong one still gets its answer below,
			// uncounted.
			s.srv.log.Error("record login attempt", "user", name, "err", err)
		}
	}
	if match {
		return nil
	}
	// This failure may be the one that sets the lock: say so now, not at
	// the next try.
	if until, _, err := s.lockState(ctx, name); err != nil {
		return err
	} else if !until.IsZero() {
		return lockedOut(until)
	}
	return chatd.Errorf(chatd.EBadCredentials, "wrong password")
}

// lockState is the lockout rule for name (chatd.LockState): the end of
// the lock in force, and the failures counted toward the next.
func (s *session) lockState(ctx context.Context, name string) (time.Time, int, error) {
	lc := s.srv.cfg().Lockout
	addr := ""
	if lc.Scope == "user+ip" {
		addr = s.addr
	}
	now := s.srv.now()
	// Failures count as consecutive however far apart they are, as far
	// back as attempts are kept.
	since := now.Add(-s.srv.attemptRetention())
	attempts, err := s.srv.store.Attempts(ctx, name, addr, since)
	if err != nil {
		return time.Time{}, 0, err
	}
	until, fails := chatd.LockState(attempts, lc.Attempts, lc.Duration.Duration, now)
	return until, fails, nil
}

// registerTries is how many times a new account's password is asked for
// before the prompt goes back to the name.
const registerTries = 3

// register creates the account name (unknown, registration open). An empty
// new password goes back to the username prompt, so a mistyped name of an
// existing account creates nothing. Both passwords are asked before anything
// is checked, so a script's pipelined name, password, password stay aligned
// with the prompts; a bad name then goes back to the username prompt, while
// a weak or mismatched password asks for the password again, up to
// registerTries times. It reports whether the user is now logged in.
func (s *session) register(ctx context.Context, name string) bool {
	for range registerTries {
		pw, ok := s.askText("new_password", true, fmt.Sprintf(
			"There is no account named %s yet. To create it, choose a password (or press Enter to go back): ", name))
		if !ok || pw == "" {
			return false
		}
		repeat, ok := s.ask("repeat_password", true)
		if !ok {
			return false
		}
		if err := s.srv.cfg().Accounts.CheckName(name); err != nil {
			s.fail("login", err)
			return false
		}
		if err := s.srv.cfg().Accounts.CheckPassword(pw); err != nil {
			s.fail("login", err)
			continue
		}
		if pw != repeat {
			s.fail("login", chatd.Errorf(chatd.EPasswordMismatch, "the two passwords differ"))
			continue
		}
		hash, err := s.hashPassword(pw)
		if err != nil {
			s.fail("login", err)
			return false
		}
		u, err := s.srv.store.CreateUser(ctx, name, hash, false)
		if chatd.ErrorCode(err) == chatd.EUserExists {
			s.fail("login", chatd.Errorf(chatd.EBadName, "%s was registered by someone else a moment ago", name))
			return false
		} else if err != nil {
			s.fail("login", err)
			return false
		}
		s.srv.connLog.Info("registered", "user", u.Name, "addr", s.addr)
		s.srv.metrics.login("registered")
		return s.enter(ctx, u)
	}
	return false
}

// enter completes a login whose password was right: bans, the duplicate
// policy, the welcome, offline mail, room history and presence.
func (s *session) enter(ctx context.Context, u *chatd.User) bool {
	now := s.srv.now()
	ban, err := s.srv.store.BanOf(ctx, u.Name)
	if err != nil {
		s.fail("login", err)
		return false
	}
	if ban != nil && ban.ActiveAt(now) {
		s.srv.metrics.login("banned")
		s.send(bannedEvent("login", ban))
		s.end(byeBanned, banText(ban))
		return false
	}
	blocked, err := s.srv.store.Blocked(ctx, u.Name)
	if err != nil {
		s.fail("login", err)
		return false
	}
	s.setBlocks(blocked)
	stored, err := s.srv.store.Settings(ctx, u.Name)
	if err != nil {
		s.fail("login", err)
		return false
	}
	settings := chatd.ParseSettings(stored)
	s.settings.Store(&settings)
	if settings.Bot {
		if err := s.srv.markBot(ctx, u.Name, true); err != nil {
			s.srv.log.Error("tell of a bot", "user", u.Name, "err", err)
		}
	}
	s.user, s.loginAt = u.Name, now
	s.srv.names.put(u.Name)
	s.admin.Store(u.Admin)
	// The login lines came out of the same bucket; start the chat with a
	// full burst.
	s.bucket = ratelimit.New(s.srv.cfg().Rate.LinesPerSecond, float64(s.srv.cfg().Rate.Burst), now)
	s.lastActive.Store(now.UnixNano())
	// The mailbox goes out a page at a time, the next page once the
	// last was written (sendMail), so a big one neither floods the outbox
	// nor makes its owner look like a slow reader.
	waiting, err := s.srv.store.OfflineCount(ctx, u.Name)
	var mail []chatd.OfflineMessage
	if err == nil && waiting > 0 {
		mail, err = s.srv.store.OfflinePage(ctx, u.Name, 0, mailPage)
	}
	if err != nil {
		s.srv.log.Error("read offline mail", "user", u.Name, "err", err)
		waiting, mail = 0, nil
	}
	// The user's rooms, their unread counts and what the replay needs from
	// the database are read before going online (no database call under
	// the locks below); the counts, once, serve both the welcome's rooms
	// and its unread list.
	names, err := s.srv.store.MemberRooms(ctx, u.Name)
	if err != nil {
		s.fail("login", err)
		return false
	}
	marks, err := s.srv.store.ReadMarkers(ctx, u.Name)
	var unread []chatd.Unread
	if err == nil {
		unread, err = s.srv.unreadFrom(ctx, u.Name, names, marks)
	}
	if err != nil {
		s.srv.log.Error("count unread messages", "user", u.Name, "err", err)
		marks, unread = nil, nil // the replay is then the rooms' last lines
	}
	mentions, err := s.srv.store.UnreadMentions(ctx, u.Name)
	if err != nil {
		s.srv.log.Error("count unread mentions", "user", u.Name, "err", err)
		mentions = 0
	}
	rooms, infos, err := s.srv.describeRooms(ctx, names, roomUnread(unread))
	if err != nil {
		s.fail("login", err)
		return false
	}
	current := ""
	if len(rooms) > 0 {
		current = rooms[len(rooms)-1]
	}
	keep := s.srv.cfg().Messages.HistoryOnJoin
	replays := s.srv.replaysOf(ctx, rooms, marks, keep)
	// Whom the user watches, indexed by the hub (scale.go).
	watching, err := s.srv.store.Watching(ctx, u.Name)
	if err != nil {
		s.srv.log.Error("read the users a user watches", "user", u.Name, "err", err)
	}
	s.watching = watchKeys(watching)
	s.setIRCWatched(watching)
	// Going online, the welcome, the offline mail and the recent lines of
	// the user's rooms are one step: under the rooms' log locks no line
	// of theirs slips between history and live chat, and under the hub's
	// lock (inside add) no private message or broadcast can overtake the
	// welcome.
	// Across nodes first: with several, the database decides whether
	// the user may have one more session and whether it is their first
	// anywhere.
	accounts := s.srv.cfg().Accounts
	s.sid = s.srv.newSID()
	elsewhere, firstAnywhere, err := s.srv.community.claim(ctx, presence{SID: s.sid, Rooms: rooms,
		OnlineSession: chatd.OnlineSession{User: u.Name, Room: current, Addr: s.addr, Listener: s.info.Listener, Since: now}},
		accounts.DuplicateLogin, accounts.MaxSessions)
	if err != nil {
		s.user = ""
		s.admin.Store(false)
		s.fail("login", err)
		return false
	}
	n := &note{Kind: noteLogin, User: u.Name, SID: s.sid, Rooms: rooms}
	h := s.srv.hub
	first := false
	// Where the new session is, for the user's other sessions.
	device := &note{Kind: noteDevice, ID: s.srv.newID(), User: u.Name, Text: s.addr, Time: now}
	unlock := s.srv.logs.lockAll(rooms)
	old, err := s.srv.hub.add(s, rooms, accounts.DuplicateLogin, accounts.MaxSessions, func(a added) {
		// Who hears of the login (scale.go), by the users online in the
		// community, the user included. Above presence.everyone_limit the
		// welcome lists only whom the user hears of in turn (their
		// watched users and small rooms' members) with the count, so
		// that a login costs O(rooms + watchers), not O(online).
		users := a.users + h.othersLocked(elsewhere)
		c := s.srv.community.elsewhere()
		s.srv.scopePresence(n, users, func(r string) int { return c.roomCount(r, h.roomUsers[chatd.Key(r)]) })
		var online []string
		if n.Scoped {
			online = welcomePeers(a.peers(s, n.smallRooms()), elsewhere, s.watching)
		} else {
			online = a.names()
			if len(elsewhere) > 0 {
				online = sortedNames(union(online, elsewhere))
			}
			users = 0 // the list is everyone
		}
		s.srv.metrics.login("ok") // counted before anyone can see the login
		s.reply(welcomeEvent(u.Name, u.Admin, current, infos, online, users, max(waiting, len(mail)), unread, mentions))
		s.sendMail(mail)
		// Up to history_on_join lines after the marker of each room
		// with unread lines.
		for i, r := range rooms {
			s.srv.logs.get(r).replayAfter(s, r, replays[i].marker, replays[i].stored, keep)
		}
		if first = a.first && firstAnywhere; first {
			to := a.others
			if n.Scoped {
				to = h.audienceLocked(n.User, n.smallRooms())
			}
			s.srv.showPresence(n, to, []*session{s})
		} else {
			// One more device: others saw the login of the first;
			// the user's own sessions hear where this one is.
			fanout(a.mine, newSessionNotice(device), nil, nil)
		}
	})
	unlock()
	if err != nil {
		s.srv.community.unclaim(s.sid)
		s.user = ""
		s.admin.Store(false)
		s.fail("login", err)
		return false
	}
	for _, o := range old {
		o.end(byeReplaced, "you logged in from somewhere else")
	}
	if first {
		s.srv.showCounts(n)
	}
	// One more device is no news to others, who were told of the first;
	// the user's sessions on other nodes hear where it is.
	if !first {
		n = device
	}
	if err := s.srv.community.tell(ctx, n); err != nil {
		s.srv.log.Error("tell the cluster of a login", "user", u.Name, "err", err)
	}
	s.srv.seen.note(s.srv, chatd.Seen{Name: u.Name, LastLogin: now, LastSeen: now, LastActive: now})
	// Mail stored between the read above and going online would otherwise
	// wait for the next login. (With mail, the page chain reads again
	// after the last page, which is after this point.) Counting is the
	// cheaper question, and the answer is almost always none.
	if len(mail) == 0 {
		if n, err := s.srv.store.OfflineCount(ctx, u.Name); err != nil || n > 0 {
			s.nextMail(0)
		}
	}
	s.srv.connLog.Info("login", "user", u.Name, "addr", s.addr)
	return true
}

// roomReplay is what the login replay of one room needs (roomLog.
// replayAfter): the user's read marker there ("" for none), and the
// room's newest stored lines when its log may not reach back far enough.
type roomReplay struct {
	marker string
	stored []chatd.HistoryLine
}

// replaysOf gathers, before the login takes the rooms' log locks, what
// the replay of each of rooms needs. A room whose stored lines cannot be
// read replays what its log holds.
func (s *Server) replaysOf(ctx context.Context, rooms []string, marks map[string]string, n int) []roomReplay {
	out := make([]roomReplay, len(rooms))
	flushed := false
	for i, r := range rooms {
		out[i].marker = marks["#"+r]
		if !s.logs.get(r).needsStored(out[i].marker, n) {
			continue
		}
		if !flushed {
			s.history.flush() // the lines said up to now are stored
			flushed = true
		}
		lines, err := s.store.History(ctx, r, n)
		if err != nil {
			s.log.Error("read room history for the login replay", "room", r, "err", err)
			continue
		}
		out[i].stored = lines
	}
	return out
}

// newSessionNotice is the notice a user's sessions get of a new one
// (noteDevice).
func newSessionNotice(n *note) *event {
	return noticeEvent(n.ID, fmt.Sprintf("%s has a new session from %s", n.User, n.Text), n.Time)
}

// lockedOut is the locked_out error of a login lock that holds until then.
func lockedOut(until time.Time) error {
	return &untilError{
		chatd.Errorf(chatd.ELockedOut, "too many failed logins; try again after %s", until.UTC().Format("2006-01-02 15:04:05 UTC")),
		until,
	}
}

func bannedEvent(cmd string, b *chatd.Ban) *event {
	// The reason may come from the shell (chatd ban -reason): clean it too.
	return errorEvent(cmd, chatd.EBanned, banText(b), f("reason", chatd.CleanText(b.Reason)), f("until", jsonTime(b.Expires)))
}

// banText tells a banned user for how long and why.
func banText(b *chatd.Ban) string {
	until := "for good"
	if !b.Permanent() {
		until = "until " + b.Expires.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	text := "you are banned " + until
	if r := chatd.CleanText(b.Reason); r != "" {
		text += ": " + r
	}
	return text
}

// mailPage is how many stored messages are queued at once: far below
// outboxLimit, so a mailbox of any size never looks like a slow reader.
const mailPage = 500

// sendMail queues one page of offline messages. Once its last message has
// been written to the connection, the page is deleted from the mailbox and
// the next page is read and queued, on the writer goroutine: delivery is
// paced by the client's reading. A session that ends midway leaves the
// rest in the mailbox for the next login.
func (s *session) sendMail(mail []chatd.OfflineMessage) {
	if len(mail) == 0 {
		return
	}
	ids := make([]int64, len(mail))
	for j := range mail {
		ids[j] = mail[j].ID
	}
	last := ids[len(ids)-1]
	for i, m := range mail {
		ev := privateMessage(kindOffline, m.MsgID, m.From, nonNil(m.To), m.Text, m.Time)
		if i == len(mail)-1 {
			ev.afterWrite = func() {
				s.srv.metrics.delivered(len(ids))
				// On the writer goroutine, which the session's end waits
				// for: bounded like the rest of that end.
				ctx, cancel := s.srv.finishCtx()
				defer cancel()
				if err := s.srv.store.DeleteOffline(ctx, ids); err != nil {
					s.srv.log.Error("delete delivered offline mail", "user", s.user, "err", err)
				}
				s.nextMail(last)
			}
		}
		if !s.send(ev) {
			return
		}
	}
}

// nextMail queues the page of offline mail after ID after, if any.
func (s *session) nextMail(after int64) {
	ctx, cancel := s.srv.finishCtx()
	defer cancel()
	page, err := s.srv.store.OfflinePage(ctx, s.user, after, mailPage)
	if err != nil {
		s.srv.log.Error("read offline mail", "user", s.user, "err", err)
		return
	}
	s.sendMail(page)
}
