package client

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// The message actions of chatd connect: /edit, /delete, /reply, /react and
// /unreact act on a line given by its id or, without one, on the last line
// of the current room (for /edit and /delete: my last line there). To
// find those lines, and to show what an edit, a deletion or a reaction is
// about, the client remembers the lines it has shown.

// maxShown bounds how many shown lines the client remembers.
const maxShown = 2000

// shownLine is what the client remembers of a line it has shown.
type shownLine struct {
	from    string
	text    string
	conv    string // its conversation's key: "#den", "@bob"
	deleted bool
}

// shownLines remembers the newest lines shown, by id, oldest first in order.
type shownLines struct {
	byID  map[string]*shownLine
	order []string
}

// note remembers message ev of conversation conv (a key), as it stands now.
func (l *shownLines) note(ev Event, conv string) {
	if ev.ID == "" {
		return
	}
	if l.byID == nil {
		l.byID = map[string]*shownLine{}
	}
	if old, ok := l.byID[ev.ID]; ok {
		old.text, old.deleted = ev.Text, ev.Deleted
		return
	}
	l.byID[ev.ID] = &shownLine{from: ev.From, text: ev.Text, conv: conv, deleted: ev.Deleted}
	l.order = append(l.order, ev.ID)
	if len(l.order) > maxShown {
		delete(l.byID, l.order[0])
		l.order = l.order[1:]
	}
}

func (l *shownLines) get(id string) *shownLine {
	if id == "" {
		return nil
	}
	return l.byID[id]
}

// lastIn is the id of the newest line still there in conversation conv,
// mine only when me is set ("" when there is none).
func (l *shownLines) lastIn(conv, me string) string {
	for i := len(l.order) - 1; i >= 0; i-- {
		line := l.byID[l.order[i]]
		if line.conv == conv && !line.deleted && (me == "" || strings.EqualFold(line.from, me)) {
			return l.order[i]
		}
	}
	return ""
}

// quoteOf is a short quote of line id: "bob: the first words…".
func (l *shownLines) quoteOf(id string) string {
	line := l.get(id)
	switch {
	case line == nil:
		return "a line not shown here"
	case line.deleted:
		return clean(line.from) + ": (deleted)"
	}
	return clean(line.from) + ": " + shorten(clean(line.text), 50)
}

// shorten cuts s to n characters, marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// actionLine is what the client sends for a typed /edit, /delete, /reply,
// /react or /unreact: the line with the id it acts on filled in when none
// was given. Any other line comes back unchanged. problem is set (and
// nothing is to be sent) when there is no line to act on.
func (s *session) actionLine(line string) (out, problem string) {
	cmd := commandWord(line)
	switch cmd {
	case "edit", "delete", "reply", "react", "unreact":
	default:
		return line, ""
	}
	// What follows the command word, spacing kept.
	rest := strings.TrimLeft(strings.TrimSpace(line)[len(strings.Fields(line)[0]):], " ")
	words := strings.Fields(rest)
	given := len(words) > 0 && (s.r.shown.get(words[0]) != nil || strings.EqualFold(words[0], "last"))
	switch cmd {
	case "edit":
		if len(words) == 0 {
			return "", "usage: /edit [ID] TEXT (without an id: your last line here)"
		}
	case "reply":
		if len(words) == 0 {
			return "", "usage: /reply [ID] TEXT (without an id: the last line here)"
		}
	case "react", "unreact":
		if len(words) == 0 {
			return "", "usage: /" + cmd + " [ID] REACTION (without an id: the last line here)"
		}
		// "react ID R" names its line, even one this client has not shown.
		given = len(words) >= 2
	case "delete":
		given = len(words) > 0
	}
	if given {
		return line, ""
	}
	cur := s.current()
	if cur == "" {
		return "", "you are in no room: give the id of the line to " + cmd
	}
	me := ""
	if cmd == "edit" || cmd == "delete" {
		me = s.r.Me
	}
	id := s.r.shown.lastIn(cur, me)
	if id == "" {
		if me != "" {
			// The server knows my last line even when this client never
			// showed it.
			return strings.TrimSpace(cmd + " last " + rest), ""
		}
		return "", "no line of " + clean(s.convs.names[cur]) + " shown yet to " + cmd + "; give its id"
	}
	return strings.TrimSpace(cmd + " " + id + " " + rest), ""
}

// mentionsMe reports whether message ev names the logged-in user.
func (r *Renderer) mentionsMe(ev Event) bool {
	for _, u := range ev.Mentions {
		if r.Me != "" && strings.EqualFold(u, r.Me) {
			return true
		}
	}
	return false
}

// actionText is the text of a message as it stands: a deleted line says
// so, an edited one is marked, reactions follow it.
func (r *Renderer) actionText(ev Event, text string) string {
	if ev.Deleted {
		return r.paint(dim, "(message deleted)")
	}
	if ev.Edited != "" {
		text += " " + r.paint(dim, "(edited)")
	}
	if len(ev.Reactions) > 0 {
		keys := make([]string, 0, len(ev.Reactions))
		for k := range ev.Reactions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, clean(k)+" "+clean(strings.Join(ev.Reactions[k], ", ")))
		}
		text += " " + r.paint(dim, "["+strings.Join(parts, "; ")+"]")
	}
	return text
}

// replyQuote is the second line of a reply: a short quote of the line it
// answers.
func (r *Renderer) replyQuote(ev Event) string {
	if ev.ReplyTo == "" {
		return ""
	}
	return "\n" + r.paint(dim, "↪ in reply to "+r.shown.quoteOf(ev.ReplyTo))
}

// actionBody renders an edit, a deletion or a reaction as a short line of
// its conversation, so a terminal user is not misled by what was shown
// before.
func (r *Renderer) actionBody(ev Event) string {
	conv := strings.TrimPrefix(clean(ev.Conv), "#")
	where := r.paint(blue, "["+conv+"]") + " "
	line := r.shown.get(ev.ID)
	whose := "a line"
	if line != nil {
		whose = clean(line.from) + "'s line"
		if strings.EqualFold(line.from, r.Me) {
			whose = "your line"
		}
	}
	switch ev.Type {
	case "edit":
		who := "someone"
		if line != nil {
			who = clean(line.from)
		}
		return where + r.paint(cyan, "* "+who+" edited:") + " " + clean(ev.Text)
	case "delete":
		by := clean(ev.By)
		if by == "" {
			by = "someone"
		}
		if line != nil && strings.EqualFold(line.from, ev.By) {
			whose = "their line"
		}
		s := "* " + by + " deleted " + whose
		if line != nil && !line.deleted {
			s += ": " + shorten(clean(line.text), 50)
		}
		return where + r.paint(cyan, s)
	}
	verb := " reacted " + clean(ev.Reaction) + " to "
	if !ev.On {
		verb = " took back " + clean(ev.Reaction) + " on "
	}
	s := "* " + clean(ev.User) + verb + whose
	if line != nil && !line.deleted {
		s += ": " + shorten(clean(line.text), 50)
	}
	return where + r.paint(cyan, s)
}
