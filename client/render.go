package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Renderer turns events into lines for a person: the local time first, then
// a form of its own for each kind of line, so room chat, private messages,
// broadcasts, presence and server notices are told apart at a glance (and
// by colour when Color is set).
type Renderer struct {
	Color bool
	Loc   *time.Location   // nil means time.Local
	Now   func() time.Time // nil means time.Now
	Me    string           // the logged-in user, to tell my own lines apart
	IDs   bool             // end each message line with its id, for /edit ID and the like

	shown shownLines // the lines shown, for what edits, deletions, reactions and replies are about
}

// ANSI colours; a reset follows each coloured span.
const (
	reset   = "\x1b[0m"
	bold    = "\x1b[1m"
	reverse = "\x1b[7m"
	dim     = "\x1b[2m"
	red     = "\x1b[31m"
	green   = "\x1b[32m"
	yellow  = "\x1b[33m"
	blue    = "\x1b[34m"
	magenta = "\x1b[35m"
	cyan    = "\x1b[36m"
)

func (r *Renderer) paint(style, s string) string {
	if !r.Color || s == "" {
		return s
	}
	return style + s + reset
}

func (r *Renderer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// stamp is the HH:MM that starts a line, in local time; a line from another
// day (history, offline mail) also gets its date.
func (r *Renderer) stamp(ts time.Time) string {
	loc := r.Loc
	if loc == nil {
		loc = time.Local
	}
	now := r.now().In(loc)
	if ts.IsZero() {
		ts = now
	}
	ts = ts.In(loc)
	s := ts.Format("15:04")
	if y, m, d := ts.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		s = ts.Format("2006-01-02 15:04")
	}
	return r.paint(dim, s)
}

// Render returns the text for ev (one or more lines, no line end) and
// whether it deserves the bell. Prompts render as "": the front end asks
// for them itself.
func (r *Renderer) Render(ev Event) (text string, bell bool) {
	body := r.body(ev)
	if body == "" {
		return "", false
	}
	lines := strings.Split(body, "\n")
	lines[0] = r.stamp(ev.TS) + " " + lines[0]
	if r.IDs && ev.Type == "message" && ev.ID != "" {
		lines[0] += " " + r.paint(dim, "["+clean(ev.ID)+"]")
	}
	for i := 1; i < len(lines); i++ {
		lines[i] = "      " + lines[i]
	}
	bell = ev.Type == "message" && (ev.Kind == "private" || ev.Kind == "offline" || ev.Kind == "room" && r.mentionsMe(ev)) && !strings.EqualFold(ev.From, r.Me)
	return strings.Join(lines, "\n"), bell
}

func (r *Renderer) body(ev Event) string {
	text := clean(ev.Text)
	from := clean(ev.From)
	switch ev.Type {
	case "prompt":
		return ""
	case "message":
		text = r.actionText(ev, text)
		switch ev.Kind {
		case "private", "offline":
			to := ""
			if len(ev.To) > 1 || strings.EqualFold(ev.From, r.Me) {
				to = " → " + clean(strings.Join(ev.To, ", "))
			}
			tag := "*" + from + "*" + to
			if ev.Kind == "offline" {
				tag += " (sent while you were away)"
			}
			return r.paint(bold+magenta, tag) + " " + r.paint(magenta, text) + r.replyQuote(ev)
		case "broadcast":
			return r.paint(bold+yellow, "[broadcast] <"+from+">") + " " + r.paint(yellow, text)
		}
		room := "[" + clean(ev.Room) + "]"
		if ev.Kind == "history" {
			room = "[" + clean(ev.Room) + " history]"
			if ev.Room == "" && ev.Conv != "" {
				room = "[" + clean(ev.Conv) + " history]" // a private conversation
			}
		}
		who := "<" + from + ">"
		if ev.Action {
			who = "* " + from
		}
		if strings.EqualFold(ev.From, r.Me) {
			return r.paint(blue, room) + " " + r.paint(bold, who) + " " + text + r.replyQuote(ev)
		}
		if r.mentionsMe(ev) {
			// A line naming me stands out.
			return r.paint(blue, room) + " " + r.paint(bold+yellow, who) + " " + r.paint(reverse, text) + r.replyQuote(ev)
		}
		return r.paint(blue, room) + " " + r.paint(green, who) + " " + text + r.replyQuote(ev)
	case "edit", "delete", "reaction":
		return r.actionBody(ev)
	case "typing":
		return "" // the web page shows it; a terminal line each time would drown the chat
	case "delivery":
		s := "→ " + clean(strings.Join(ev.To, ", ")) + ": " + deliveryWords(ev.Status)
		if ev.Away != "" {
			s += " (away: " + clean(ev.Away) + ")"
		}
		return r.paint(dim, s)
	case "presence":
		return r.paint(cyan, "-- "+presenceWords(ev))
	case "room":
		return r.paint(cyan, "-- "+roomWords(ev))
	case "welcome":
		s := fmt.Sprintf("Welcome, %s! You are in %s.", clean(ev.User), clean(ev.Room))
		if ev.Room == "" {
			s = fmt.Sprintf("Welcome, %s! You are in no room; join one.", clean(ev.User))
		}
		var rooms []myRoom
		if decode(ev.Raw["rooms"], &rooms) && len(rooms) > 1 {
			names := make([]string, len(rooms))
			for i, rm := range rooms {
				names[i] = clean(rm.Name)
			}
			s += " Your rooms: " + strings.Join(names, ", ") + "."
		}
		if ev.Admin {
			s += " You are a server admin."
		}
		s += " Online: " + clean(strings.Join(ev.Online, ", ")) + "."
		var unread []unreadEntry
		if decode(ev.Raw["unread"], &unread) && len(unread) > 0 {
			parts := make([]string, len(unread))
			for i, u := range unread {
				parts[i] = fmt.Sprintf("%s %d", clean(u.Conversation), u.Count)
				if u.More {
					parts[i] += "+"
				}
			}
			s += " Unread: " + strings.Join(parts, ", ") + "."
		}
		if n := 0; decode(ev.Raw["mentions"], &n) && n > 0 {
			s += fmt.Sprintf(" Unread mentions: %d (mentions lists them).", n)
		}
		if ev.Offline > 0 {
			s += fmt.Sprintf(" %d message%s came while you were away:", ev.Offline, plural(ev.Offline))
		}
		return r.paint(bold, ":: "+s)
	case "ok":
		s := ":: " + text
		if extra := r.okBody(ev); extra != "" {
			s += "\n" + extra
		}
		return s
	case "error":
		s := "!! " + text
		if ev.Reason != "" && !strings.Contains(text, ev.Reason) {
			s += ": " + clean(ev.Reason)
		}
		if ev.Until != "" {
			if t, err := time.Parse(time.RFC3339, ev.Until); err == nil {
				s += " (until " + t.In(r.location()).Format("2006-01-02 15:04") + ")"
			}
		}
		return r.paint(red, s+" ["+clean(ev.Code)+"]")
	case "bye":
		return r.paint(bold, ":: Goodbye: "+text)
	case "text":
		return text
	}
	if text != "" {
		return ":: " + text
	}
	return ""
}

func (r *Renderer) location() *time.Location {
	if r.Loc != nil {
		return r.Loc
	}
	return time.Local
}

func deliveryWords(status string) string {
	switch status {
	case "delivered":
		return "delivered"
	case "stored":
		return "offline, kept for their next login"
	case "blocked":
		return "not sent: they blocked you"
	case "mailbox_full":
		return "not sent: their mailbox is full"
	case "no_such_user":
		return "not sent: no such user"
	}
	return clean(status)
}

func presenceWords(ev Event) string {
	u := clean(ev.User)
	switch ev.Event {
	case "login":
		return u + " logged in"
	case "logout":
		return u + " logged out"
	case "timeout":
		return u + " timed out"
	case "kicked":
		return u + " was kicked"
	case "banned":
		return u + " was banned"
	case "shutdown":
		return u + " left as the server shut down"
	case "away":
		if ev.Text != "" {
			return u + " is away: " + clean(ev.Text)
		}
		return u + " is away"
	case "back":
		return u + " is back"
	}
	return u + " " + clean(ev.Event)
}

func roomWords(ev Event) string {
	u, room := clean(ev.User), clean(ev.Room)
	switch ev.Event {
	case "joined":
		return u + " joined " + room
	case "left":
		return u + " left " + room
	case "kicked":
		s := u + " was put out of " + room
		if ev.By != "" {
			s += " by " + clean(ev.By)
		}
		if ev.Reason != "" {
			s += ": " + clean(ev.Reason)
		}
		return s
	case "closed":
		return "room " + room + " was closed by " + u
	case "topic":
		return "topic of " + room + ": " + clean(ev.Topic)
	case "banned":
		return u + " was banned from " + room
	}
	if ev.Text != "" {
		return clean(ev.Text)
	}
	return room + ": " + u + " " + clean(ev.Event)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// okBody formats the command-specific members of an ok answer.
func (r *Renderer) okBody(ev Event) string {
	var lines []string
	for _, key := range []string{"users", "blocked", "commands"} {
		var names []string
		if !decode(ev.Raw[key], &names) || len(names) == 0 || containsAll(ev.Text, names) {
			continue // the summary already says it
		}
		lines = append(lines, clean(strings.Join(names, ", ")))
	}
	var one struct {
		Summary string   `json:"summary"`
		Aliases []string `json:"aliases"`
	}
	if ev.Cmd == "help" && json.Unmarshal(ev.Raw["summary"], &one.Summary) == nil {
		lines = append(lines, clean(one.Summary))
		if json.Unmarshal(ev.Raw["aliases"], &one.Aliases) == nil && len(one.Aliases) > 0 {
			lines = append(lines, "also: "+clean(strings.Join(one.Aliases, ", ")))
		}
	}
	var rooms []struct {
		Name    string   `json:"name"`
		Owner   *string  `json:"owner"`
		Members []string `json:"members"`
		Locked  bool     `json:"locked"`
		Topic   string   `json:"topic"`
		Unread  *int     `json:"unread"` // rooms mine
	}
	if json.Unmarshal(ev.Raw["rooms"], &rooms) == nil {
		for _, rm := range rooms {
			if rm.Unread != nil {
				// rooms mine: * marks the current room.
				mark := "  "
				if strings.EqualFold(rm.Name, ev.Room) {
					mark = " *"
				}
				s := fmt.Sprintf("%s%s (%d unread)", mark, clean(rm.Name), *rm.Unread)
				if rm.Topic != "" {
					s += ": " + clean(rm.Topic)
				}
				lines = append(lines, s)
				continue
			}
			s := clean(rm.Name)
			if rm.Locked {
				s += " [password]"
			}
			s += fmt.Sprintf(" (%d here", len(rm.Members))
			if rm.Owner != nil && *rm.Owner != "" {
				s += ", owner " + clean(*rm.Owner)
			}
			s += ")"
			if len(rm.Members) > 0 {
				s += ": " + clean(strings.Join(rm.Members, ", "))
			}
			if rm.Topic != "" {
				s += " — " + clean(rm.Topic)
			}
			lines = append(lines, s)
		}
	}
	var info map[string]json.RawMessage
	if json.Unmarshal(ev.Raw["info"], &info) == nil {
		for _, key := range []string{"user", "admin", "online", "room", "since", "last_active", "idle_seconds", "addr"} {
			v, ok := info[key]
			if !ok || string(v) == "null" {
				continue
			}
			val := strings.Trim(string(v), `"`)
			if t, err := time.Parse(time.RFC3339, val); err == nil {
				val = t.In(r.location()).Format("2006-01-02 15:04")
			}
			lines = append(lines, fmt.Sprintf("%-13s %s", strings.ReplaceAll(key, "_", " ")+":", clean(val)))
		}
	}
	return strings.Join(lines, "\n")
}

func containsAll(text string, names []string) bool {
	for _, n := range names {
		if !strings.Contains(text, n) {
			return false
		}
	}
	return true
}

// clean drops control characters (C0 but tab, DEL, C1 and so ESC) from text
// that came over the wire: the server strips them already, and the client
// does not trust that alone with its user's terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			return -1
		}
		return r
	}, s)
}
