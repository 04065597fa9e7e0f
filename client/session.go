package client

import (
	"context"
	"errors"
	"fmt"
	"io"
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
// list and current room for completion and the prompt.
type session struct {
	conn *Conn
	r    *Renderer
	in   input
	user string // -user: the answer to the first username prompt

	loggedIn  bool
	leaving   bool // logout sent; a bye (or the end of the connection) ends the session
	awaiting  bool // a prompt or the answer to passwd is due before the next line
	answering bool // the next line answers a prompt that came after login

	mu       sync.Mutex // guards online, commands, admin and room; completion reads them
	online   map[string]string
	commands []string
	fromHelp bool // commands is the server's own list (help), fit for this user
	admin    bool
	room     string
}

func newSession(conn *Conn, r *Renderer, in input, user string) *session {
	return &session{conn: conn, r: r, in: in, user: user, online: map[string]string{}, commands: commandNames}
}

// leaveTimeout is how long a logout waits for the server's bye.
const leaveTimeout = 5 * time.Second

// run drives the session. It returns nil after a logout the person asked
// for, and an error saying what happened otherwise (the server went away,
// ended the session, or a script's login failed).
func (s *session) run(ctx context.Context) error {
	events := make(chan Event)
	lost := make(chan error, 1)
	go func() {
		for {
			ev, err := s.conn.Next()
			if err != nil {
				lost <- err
				return
			}
			events <- ev
		}
	}()
	want := false // a line from the input is wanted now
	done := ctx.Done()
	var leaveTimer, awaitTimer <-chan time.Time
	for {
		var lines <-chan inputLine
		if want {
			lines = s.in.lines()
		}
		select {
		case <-done:
			done = nil
			if !s.loggedIn {
				return errors.New("interrupted before the login finished")
			}
			if !s.leaving {
				leaveTimer = s.leave()
			}
		case <-leaveTimer:
			return errors.New("the server did not confirm the logout in time; connection closed")
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
			if errors.Is(err, io.EOF) {
				return errors.New("the server closed the connection")
			}
			return fmt.Errorf("lost the connection to the server: %v", err)
		case ev := <-events:
			stop, err := s.handle(ev, &want)
			if stop {
				return err
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
						return nil // the person gave up at the login prompt
					}
					return errors.New("standard input ended before the login finished")
				}
				if !s.leaving {
					leaveTimer = s.leave()
				}
				continue
			}
			if err := s.typed(l.text, &want); err != nil {
				return fmt.Errorf("lost the connection to the server: %v", err)
			}
			if s.awaiting && awaitTimer == nil {
				awaitTimer = time.After(3 * time.Second)
			}
		}
	}
}

// leave sends logout; the session ends at the bye.
func (s *session) leave() <-chan time.Time {
	s.leaving = true
	s.conn.Send("logout")
	return time.After(leaveTimeout)
}

// typed sends a line from the input and decides whether to ask for the next.
func (s *session) typed(line string, want *bool) error {
	if !s.loggedIn {
		// An answer to a login prompt; the next prompt asks again.
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

// handle deals with one event. stop ends the session with err.
func (s *session) handle(ev Event, want *bool) (stop bool, err error) {
	before := s.prompt()
	s.track(ev)
	if after := s.prompt(); s.loggedIn && after != before {
		// The room changed while a line may be being typed at the old
		// room's prompt: show the new room now, not after that line.
		if r, ok := s.in.(retitler); ok {
			r.retitle(before, after)
		}
	}
	switch ev.Type {
	case "prompt":
		if s.loggedIn && !s.in.interactive() {
			return false, nil // a script's next lines answer it
		}
		s.awaiting = false
		if ev.Field == "username" {
			if s.user != "" {
				name := s.user
				s.user = "" // a failed login asks the person next time
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
		return true, fmt.Errorf("the server ended the session (%s): %s", ev.Reason, clean(ev.Text))
	case "error":
		s.show(ev)
		if ev.Cmd == "login" && !s.in.interactive() {
			return true, fmt.Errorf("login failed: %s", clean(ev.Text))
		}
	case "ok":
		s.show(ev)
	default:
		s.show(ev)
	}
	if s.awaiting && (ev.Type == "ok" || ev.Type == "error") && ev.Cmd == "passwd" {
		s.awaiting = false
		*want = true
		s.in.ask(s.prompt(), false)
	}
	return false, nil
}

func (s *session) send(line string) error {
	if err := s.conn.Send(line); err != nil {
		return fmt.Errorf("lost the connection to the server: %v", err)
	}
	return nil
}

func (s *session) show(ev Event) {
	if text, bell := s.r.Render(ev); text != "" {
		s.in.print(text, bell)
	}
}

// track keeps the online list, the command list and the current room.
func (s *session) track(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.Type {
	case "welcome":
		s.room = ev.Room
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
		case "join", "create", "leave":
			if ev.Room != "" {
				s.room = ev.Room
			}
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

// prompt is the line-editing prompt: the current room.
func (s *session) prompt() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clean(s.room) + "> "
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
	"msg",
}
