package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// inputLine is one line the person (or script) typed, or the end of input.
type inputLine struct {
	text string
	err  error // io.EOF: Ctrl-C, Ctrl-D or the end of standard input
}

// input is where a session's lines come from: a terminal with line editing
// or a plain stream of lines.
type input interface {
	// ask prepares to read one line, secret (not echoed) when asked for a
	// password; the answer arrives on lines.
	ask(prompt string, secret bool)
	lines() <-chan inputLine
	// print shows rendered text above whatever is being typed.
	print(text string, bell bool)
	// interactive reports a person at a terminal: a failed login is asked
	// again and the line being typed waits for the answer to passwd.
	interactive() bool
}

// session is one login's life from the username prompt to bye: it answers
// prompts, sends what is typed, renders what arrives, and keeps the online
// list and current room for completion and the prompt. With a redial it
// outlives its connection: a dropped one is dialled again, logged in again
// with the name and password given at the first login (kept in memory
// only), and each conversation shown is caught up from its newest line.
type session struct {
	conn   *Conn
	redial func(context.Context) (*Conn, error) // nil: a lost connection ends the session
	r      *Renderer
	in     input
	user   string // -user: the answer to the first username prompt

	loggedIn  bool
	leaving   bool // logout sent; a bye (or the end of the connection) ends the session
	awaiting  bool // a prompt or the answer to passwd is due before the next line
	answering bool // the next line answers a prompt that came after login

	field    string // the field of the last prompt
	name     string // the name and password that logged in, to log in again
	password string
	newPass  string // the new password given to passwd, until its ok

	resuming  bool // the connection was lost: dialling and logging in again
	resumed   bool // the welcome of a login again is due or came
	replaying bool // the lines right after a welcome of a login again (the server's replay)
	convs     convs
	// restarting: the server said bye "restart", so the lost connection
	// is dialled again at once.
	restarting bool

	mu       sync.Mutex // guards online, commands, admin and room; completion reads them
	online   map[string]string
	commands []string
	fromHelp bool // commands is the server's own list (help), fit for this user
	admin    bool
	room     string
	unread   string // the unread part of the prompt
}

func newSession(conn *Conn, r *Renderer, in input, user string) *session {
	return &session{conn: conn, r: r, in: in, user: user, online: map[string]string{}, commands: commandNames, convs: newConvs()}
}

// leaveTimeout is how long a logout waits for the server's bye.
const leaveTimeout = 5 * time.Second

// run drives the session. It returns nil after a logout the person asked
// for, and an error saying what happened otherwise (the server went away,
// ended the session, or a script's login failed).
func (s *session) run(ctx context.Context) error {
	defer func() { s.conn.Close() }()
	events, lost, stopRead := s.read(s.conn)
	defer func() { stopRead() }()
	want := false // a line from the input is wanted now
	done := ctx.Done()
	var leaveTimer, awaitTimer, readTimer, retryTimer <-chan time.Time
	var dialed chan dialResult
	backoff := time.Duration(0)
	for {
		var lines <-chan inputLine
		if want {
			lines = s.in.lines()
		}
		if wait, due := s.convs.readWait(time.Now()); due && readTimer == nil && s.loggedIn {
			readTimer = time.After(wait)
		}
		select {
		case <-done:
			done = nil
			if s.resuming {
				return nil
			}
			if !s.loggedIn {
				return errors.New("interrupted before the login finished")
			}
			if !s.leaving {
				leaveTimer = s.leave()
			}
		case <-leaveTimer:
			return errors.New("the server did not confirm the logout in time; connection closed")
		case <-readTimer:
			readTimer = nil
			if s.loggedIn && !s.leaving {
				if err := s.sendReads(time.Now()); err != nil {
					s.conn.Close() // the reader reports it
				}
			}
		case <-awaitTimer:
			awaitTimer = nil
			if s.awaiting {
				s.awaiting = false
				want = true
				s.in.ask(s.prompt(), false)
			}
		case err := <-lost:
			if s.leaving {
				return nil
			}
			if s.canResume() {
				stopRead()
				events, lost = nil, nil
				wait := restartWait()
				if !s.restarting {
					backoff = nextBackoff(backoff)
					wait = backoff
				}
				s.dropped(err, wait)
				retryTimer, awaitTimer, readTimer = time.After(wait), nil, nil
				continue
			}
			if errors.Is(err, io.EOF) {
				return errors.New("the server closed the connection")
			}
			return fmt.Errorf("lost the connection to the server: %v", err)
		case <-retryTimer:
			retryTimer = nil
			dialed = make(chan dialResult, 1)
			go func(ch chan<- dialResult) {
				c, err := s.redial(ctx)
				ch <- dialResult{c, err}
			}(dialed)
		case d := <-dialed:
			dialed = nil
			if d.err != nil {
				backoff = nextBackoff(backoff)
				s.in.print(s.r.paint(dim, fmt.Sprintf(":: %s; trying again in %s", clean(d.err.Error()), backoff)), false)
				retryTimer = time.After(backoff)
				continue
			}
			s.conn = d.conn
			events, lost, stopRead = s.read(s.conn)
		case ev := <-events:
			stop, err := s.handle(ev, &want)
			if stop {
				return err
			}
			if s.loggedIn {
				backoff = 0
			}
			if s.awaiting && awaitTimer == nil {
				awaitTimer = time.After(3 * time.Second)
			}
			if !s.awaiting {
				awaitTimer = nil
			}
		case l := <-lines:
			want = false
			if l.err != nil {
				if !s.loggedIn {
					if s.in.interactive() {
						return nil // the person gave up at the login prompt, or while the client reconnected
					}
					return errors.New("standard input ended before the login finished")
				}
				if !s.leaving {
					s.sendReads(time.Now()) // what was shown last is read too
					leaveTimer = s.leave()
				}
				continue
			}
			if err := s.typed(l.text, &want); err != nil {
				if s.canResume() {
					s.conn.Close() // the reader reports the loss and the client reconnects
					continue
				}
				return fmt.Errorf("lost the connection to the server: %v", err)
			}
			if s.awaiting && awaitTimer == nil {
				awaitTimer = time.After(3 * time.Second)
			}
		}
	}
}

type dialResult struct {
	conn *Conn
	err  error
}

// read reads conn's events on a goroutine of its own until the connection
// ends (the error goes to lost) or stop is called.
func (s *session) read(conn *Conn) (events <-chan Event, lost <-chan error, stop func()) {
	ev := make(chan Event)
	ls := make(chan error, 1)
	quit := make(chan struct{})
	go func() {
		for {
			e, err := conn.Next()
			if err != nil {
				ls <- err
				return
			}
			select {
			case ev <- e:
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return ev, ls, func() { once.Do(func() { close(quit); conn.Close() }) }
}

// canResume reports whether a lost connection is dialled again: at a
// terminal, once logged in, unless the person is leaving.
func (s *session) canResume() bool {
	return s.redial != nil && s.name != "" && !s.leaving && (s.loggedIn || s.resuming)
}

// dropped starts a reconnection after the connection was lost.
func (s *session) dropped(err error, wait time.Duration) {
	why := "the server closed the connection"
	if !errors.Is(err, io.EOF) {
		why = "lost the connection to the server: " + err.Error()
	}
	switch {
	case s.restarting:
		s.in.print(s.r.paint(dim, ":: the server is restarting; reconnecting…"), false)
	case !s.resuming:
		s.in.print(s.r.paint(red, fmt.Sprintf("!! %s; reconnecting in %s (Ctrl-D gives up)", clean(why), wait)), false)
	default:
		s.in.print(s.r.paint(dim, fmt.Sprintf(":: %s; trying again in %s", clean(why), wait)), false)
	}
	s.loggedIn, s.resuming, s.resumed, s.restarting = false, true, false, false
	s.awaiting, s.answering = false, false
	for k := range s.convs.catching {
		delete(s.convs.catching, k)
	}
	clear(s.convs.byLabel)
}

// restartWait is the wait before dialling again after bye "restart":
// short, and random so that a server's clients do not all come back in
// the same instant. A failed dial then backs off as usual.
func restartWait() time.Duration {
	return 50*time.Millisecond + rand.N(250*time.Millisecond)
}

// nextBackoff is the wait before the next attempt to reconnect: half a
// second, doubling up to ten.
func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 500 * time.Millisecond
	}
	return min(2*d, 10*time.Second)
}

// leave sends logout; the session ends at the bye.
func (s *session) leave() <-chan time.Time {
	s.leaving = true
	s.conn.Send("logout")
	return time.After(leaveTimeout)
}

// typed sends a line from the input and decides whether to ask for the next.
func (s *session) typed(line string, want *bool) error {
	if s.resuming {
		s.in.print(s.r.paint(red, "!! not connected, reconnecting: that line was not sent (up recalls it)"), false)
		*want = true
		s.in.ask(s.prompt(), false)
		return nil
	}
	if !s.loggedIn {
		// An answer to a login prompt; the next prompt asks again.
		switch s.field {
		case "username":
			s.name = line
		case "password", "new_password":
			s.password = line
		}
		return s.conn.Send(line)
	}
	if strings.TrimSpace(line) == "" && !s.answering {
		*want = true
		s.in.ask(s.prompt(), false)
		return nil
	}
	if !s.answering && commandWord(line) == "mode" {
		// The client reads JSON; a switch to text mode would blind it.
		s.in.print(s.r.paint(red, "!! chatd connect keeps the connection in JSON mode itself; mode is not available here"), false)
		*want = true
		s.in.ask(s.prompt(), false)
		return nil
	}
	wasAnswer := s.answering
	if wasAnswer && s.field == "new_password" {
		s.newPass = line
	}
	if !wasAnswer {
		line = s.rewrite(line)
		var problem string
		if line, problem = s.actionLine(line); problem != "" {
			s.in.print(s.r.paint(red, "!! "+problem), false)
			*want = true
			s.in.ask(s.prompt(), false)
			return nil
		}
	}
	s.awaiting, s.answering = false, false
	if err := s.conn.Send(line); err != nil {
		return err
	}
	if s.in.interactive() && (wasAnswer || commandWord(line) == "passwd") {
		// passwd asks for passwords: wait for its prompt (read without echo)
		// or its answer before reading the next line.
		s.awaiting = true
		return nil
	}
	*want = true
	s.in.ask(s.prompt(), false)
	return nil
}

// rewrite is what the client makes of a typed command before it is sent:
// /rooms lists my rooms (rooms mine), a line starting with @ is chat. A
// private message to one user reads the conversation with them up to its
// newest line shown.
func (s *session) rewrite(line string) string {
	if strings.TrimSpace(line) == "/rooms" {
		return "rooms mine"
	}
	if strings.HasPrefix(strings.TrimSpace(line), "@") {
		// "@bob look": chat that names someone. Sent as it is, the server
		// would take "@bob" for a label (protocol.md) and drop it.
		return "say " + line
	}
	switch commandWord(line) {
	case "send", "msg", "message":
		words := strings.Fields(line)
		if len(words) > 2 && !strings.ContainsAny(words[1], "(,#") {
			key := convKey("@" + strings.TrimPrefix(words[1], "@"))
			if _, known := s.convs.last[key]; known {
				s.convs.markRead(key)
				s.setUnreadPrompt()
			}
		}
	}
	return line
}

// handle deals with one event. stop ends the session with err.
func (s *session) handle(ev Event, want *bool) (stop bool, err error) {
	before := s.prompt()
	if s.replaying && (ev.Type != "message" || ev.Label != "" || (ev.Kind != "history" && ev.Kind != "offline")) {
		s.replaying = false
	}
	if own, err := s.ownAnswer(ev); own {
		s.setUnreadPrompt()
		s.retitle(before)
		return err != nil, err
	}
	s.track(ev)
	s.serverCounts(ev)
	visible := ev.Type != "message" || s.seeMessage(ev)
	s.setUnreadPrompt()
	if s.loggedIn {
		// The room or the unread counts changed while a line may be being
		// typed at the old prompt: show the new one now, not after that
		// line.
		s.retitle(before)
	}
	if !visible {
		return false, nil
	}
	switch ev.Type {
	case "prompt":
		s.field = ev.Field
		if s.resuming {
			return s.answerAgain(ev)
		}
		if s.loggedIn && !s.in.interactive() {
			return false, nil // a script's next lines answer it
		}
		s.awaiting = false
		if ev.Field == "username" {
			if s.user != "" {
				name := s.user
				s.user = "" // a failed login asks the person next time
				s.name = name
				return false, s.send(name)
			}
			if !s.in.interactive() && s.loggedIn {
				return false, nil
			}
			*want = true
			s.in.ask("Username: ", false)
			return false, nil
		}
		s.answering = s.loggedIn
		if *want {
			// A line is being read already (a prompt nobody asked for):
			// it cannot become secret now, but it answers the prompt.
			s.in.print(s.r.paint(yellow, ":: the server asks: "+strings.TrimSpace(promptWords(ev.Field, s.loggedIn))+" (your next line answers)"), false)
			return false, nil
		}
		*want = true
		s.in.ask(promptWords(ev.Field, s.loggedIn), true)
		return false, nil
	case "welcome":
		s.loggedIn = true
		s.r.Me = ev.User
		if s.resuming {
			wasIn := s.room // kept by track when still theirs
			s.resuming, s.resumed, s.replaying = false, true, true
			s.in.print(s.r.paint(bold, ":: reconnected; fetching what was said meanwhile"), false)
			s.setUnreadPrompt()
			err := s.catchUpAll()
			if wasIn != "" && !strings.EqualFold(wasIn, ev.Room) && err == nil {
				// The server makes the room joined last current; the
				// person was talking in another one of theirs.
				err = s.conn.Send("join " + wasIn)
			}
			if err != nil {
				s.conn.Close() // the reader reports it and the client tries again
			}
			if !*want {
				*want = true
				s.in.ask(s.prompt(), false)
			} else {
				s.retitle(before)
			}
			return false, nil
		}
		s.show(ev)
		if s.in.interactive() {
			s.in.print(s.r.paint(dim, "Tab completes commands and names, up and down recall lines, help lists the commands, Ctrl-D logs out."), false)
		}
		*want = true
		s.in.ask(s.prompt(), false)
		return false, nil
	case "bye":
		s.show(ev)
		if s.leaving || ev.Reason == "logout" {
			return true, nil
		}
		if (ev.Reason == "shutdown" || ev.Reason == "restart") && s.canResume() {
			s.restarting = ev.Reason == "restart"
			return false, nil // the end of the connection follows; the client comes back
		}
		return true, fmt.Errorf("the server ended the session (%s): %s", ev.Reason, clean(ev.Text))
	case "error":
		if ev.Cmd == "login" && s.resuming {
			switch ev.Code {
			case "already_online", "too_many_sessions", "server_busy", "rate_limited":
				// The server may not have noticed the lost connection yet,
				// or is busy: try again a little later.
				s.conn.Close()
				return false, nil
			}
			s.show(ev)
			return true, fmt.Errorf("could not log in again: %s", clean(ev.Text))
		}
		s.show(ev)
		if ev.Cmd == "login" && !s.in.interactive() {
			return true, fmt.Errorf("login failed: %s", clean(ev.Text))
		}
	case "ok":
		if ev.Cmd == "passwd" && s.newPass != "" {
			s.password, s.newPass = s.newPass, ""
		}
		s.show(ev)
	default:
		s.show(ev)
	}
	if s.awaiting && (ev.Type == "ok" || ev.Type == "error") && ev.Cmd == "passwd" {
		s.awaiting = false
		s.newPass = ""
		*want = true
		s.in.ask(s.prompt(), false)
	}
	return false, nil
}

// answerAgain answers the login prompts of a reconnection with the name
// and password of the first login. Any other prompt means the account is
// gone.
func (s *session) answerAgain(ev Event) (bool, error) {
	switch ev.Field {
	case "username":
		return false, s.send(s.name)
	case "password":
		return false, s.send(s.password)
	}
	return true, fmt.Errorf("could not log in again as %s: the server asks for %s", clean(s.name), clean(ev.Field))
}

// isMine reports whether room is one of the welcome's rooms.
func isMine(welcome Event, room string) bool {
	var rooms []myRoom
	decode(welcome.Raw["rooms"], &rooms)
	for _, r := range rooms {
		if room != "" && strings.EqualFold(r.Name, room) {
			return true
		}
	}
	return false
}

// retitle shows the prompt as it is now if it was before while a line
// is being read.
func (s *session) retitle(before string) {
	if after := s.prompt(); after != before {
		if r, ok := s.in.(retitler); ok {
			r.retitle(before, after)
		}
	}
}

func (s *session) send(line string) error {
	if err := s.conn.Send(line); err != nil {
		return fmt.Errorf("lost the connection to the server: %v", err)
	}
	return nil
}

func (s *session) show(ev Event) {
	if ev.Type == "message" && ev.ID != "" {
		if names := s.conversationsOf(ev); len(names) > 0 {
			s.r.shown.note(ev, convKey(names[0]))
		}
	}
	if text, bell := s.r.Render(ev); text != "" {
		s.in.print(text, bell)
	}
	// What the line is now, for the next action on it.
	if line := s.r.shown.get(ev.ID); line != nil {
		switch ev.Type {
		case "edit":
			line.text = ev.Text
		case "delete":
			line.text, line.deleted = "", true
		}
	}
}

// track keeps the online list, the command list and the current room.
func (s *session) track(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.Type {
	case "welcome":
		if !s.resuming || !isMine(ev, s.room) {
			// Logging in again, the person stays in the room they were
			// talking in (handle joins it again), if it is still theirs.
			s.room = ev.Room
		}
		s.admin = ev.Admin
		s.online = map[string]string{}
		for _, u := range ev.Online {
			s.online[strings.ToLower(u)] = u
		}
	case "presence":
		switch ev.Event {
		case "login":
			s.online[strings.ToLower(ev.User)] = ev.User
		case "logout", "timeout", "kicked", "banned", "shutdown":
			delete(s.online, strings.ToLower(ev.User))
		}
	case "ok":
		switch ev.Cmd {
		case "join", "create":
			if ev.Room != "" {
				s.room = ev.Room
				s.convs.markRead(convKey("#" + ev.Room)) // its lines were shown
			}
		case "leave":
			s.room = ev.Room // null: in no room now
		case "who":
			var users []string
			if decode(ev.Raw["users"], &users) {
				s.online = map[string]string{}
				for _, u := range users {
					s.online[strings.ToLower(u)] = u
				}
			}
		case "help":
			var names []string
			if decode(ev.Raw["commands"], &names) && len(names) > 0 {
				s.commands, s.fromHelp = names[:0:0], true
				for _, n := range names {
					if n != "mode" {
						s.commands = append(s.commands, n)
					}
				}
			}
		}
	case "room":
		if (ev.Event == "closed" || (ev.Event == "kicked" || ev.Event == "banned") && strings.EqualFold(ev.User, s.r.Me)) &&
			strings.EqualFold(ev.Room, s.room) {
			s.room = "lobby"
		}
	}
}

// prompt is the line-editing prompt: the current room, and the
// conversations with unread lines.
func (s *session) prompt() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unread != "" {
		return clean(s.room) + " [unread " + s.unread + "]> "
	}
	return clean(s.room) + "> "
}

// setUnreadPrompt brings the prompt's unread part up to date.
func (s *session) setUnreadPrompt() {
	text := s.convs.unreadText()
	s.mu.Lock()
	s.unread = text
	s.mu.Unlock()
}

// onlineNames is a sorted copy of the online list.
func (s *session) onlineNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.online))
	for _, n := range s.online {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// commandList is what Tab completes the first word from: the commands
// this user may run (the server's admin commands only for an admin).
func (s *session) commandList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fromHelp || s.admin {
		return s.commands
	}
	var out []string
	for _, c := range s.commands {
		if !slices.Contains(adminCommands, c) {
			out = append(out, c)
		}
	}
	return out
}

// retitler is an input that can change the prompt of the line being
// read.
type retitler interface {
	// retitle shows prompt now instead of old, if old is the prompt of
	// the line being read.
	retitle(old, prompt string)
}

// promptWords is what a password prompt says; new_password means
// registration before login and passwd after it.
func promptWords(field string, loggedIn bool) string {
	switch field {
	case "password":
		return "Password: "
	case "new_password":
		if loggedIn {
			return "New password: "
		}
		return "No account of that name yet. New password (empty to go back): "
	case "repeat_password":
		return "Repeat the password: "
	case "old_password":
		return "Current password: "
	}
	return clean(field) + ": "
}

// commandWord is the first word of line, lower case, without a leading /.
func commandWord(line string) string {
	w, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return strings.ToLower(strings.TrimPrefix(w, "/"))
}

// adminCommands are the commands only a server admin may run; Tab offers
// them to no one else.
var adminCommands = []string{"ban", "unban", "shutdown"}

// commandNames completes the first word until the server's own list arrives
// with an answer to help.
var commandNames = []string{
	"active", "away", "back", "ban", "block", "blocked", "broadcast", "check", "close",
	"create", "echo", "help", "history", "invite", "join", "kick", "last", "leave",
	"logout", "me", "names", "passwd", "quit", "quote", "roomban", "roompasswd",
	"roomunban", "rooms", "say", "search", "send", "set", "shutdown", "time", "topic",
	"transfer", "unban", "unblock", "who", "whoelse", "whoelsesince", "wholasthr", "whois",
	"msg", "edit", "delete", "reply", "react", "unreact", "mentions",
}
