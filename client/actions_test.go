package client

import (
	"strings"
	"testing"
	"time"
)

// TestRenderActions: edits, deletions and reactions render as short lines
// about the line they touch, replies quote their original, history shows a
// line as it stands, and a line naming me is highlighted and rings.
func TestRenderActions(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, loc)
	r := &Renderer{Loc: loc, Now: func() time.Time { return now }, Me: "alice"}
	r.shown.note(event(t, `{"type":"message","kind":"room","id":"m1","from":"bob","room":"lobby","text":"see you at noon"}`), "#lobby")
	r.shown.note(event(t, `{"type":"message","kind":"room","id":"m2","from":"alice","room":"lobby","text":"mine"}`), "#lobby")
	for _, tc := range []struct {
		name, line, want string
		bell             bool
	}{
		{"Edit", `{"type":"edit","id":"m1","conversation":"#lobby","text":"see you at one","ts":"2026-05-01T09:31:00Z"}`, "11:31 [lobby] * bob edited: see you at one", false},
		{"EditUnknown", `{"type":"edit","id":"zz","conversation":"#lobby","text":"new","ts":"2026-05-01T09:31:00Z"}`, "11:31 [lobby] * someone edited: new", false},
		{"DeleteOwn", `{"type":"delete","id":"m1","conversation":"#lobby","by":"bob"}`, "12:00 [lobby] * bob deleted their line: see you at noon", false},
		{"DeleteByOwner", `{"type":"delete","id":"m2","conversation":"#lobby","by":"carol"}`, "12:00 [lobby] * carol deleted your line: mine", false},
		{"React", `{"type":"reaction","id":"m2","conversation":"#lobby","user":"bob","reaction":"👍","on":true}`, "12:00 [lobby] * bob reacted 👍 to your line: mine", false},
		{"Unreact", `{"type":"reaction","id":"m1","conversation":"#lobby","user":"carol","reaction":"👀","on":false}`, "12:00 [lobby] * carol took back 👀 on bob's line: see you at noon", false},
		{"Reply", `{"type":"message","kind":"room","id":"m3","from":"carol","room":"lobby","text":"ok","reply_to":"m1","ts":"2026-05-01T09:30:00Z"}`, "11:30 [lobby] <carol> ok\n      ↪ in reply to bob: see you at noon", false},
		{"ReplyUnknown", `{"type":"message","kind":"room","id":"m4","from":"carol","room":"lobby","text":"ok","reply_to":"gone","ts":"2026-05-01T09:30:00Z"}`, "11:30 [lobby] <carol> ok\n      ↪ in reply to a line not shown here", false},
		{"Mention", `{"type":"message","kind":"room","id":"m5","from":"bob","room":"lobby","text":"@alice look","mentions":["alice"],"ts":"2026-05-01T09:30:00Z"}`, "11:30 [lobby] <bob> @alice look", true},
		{"MentionOther", `{"type":"message","kind":"room","id":"m6","from":"bob","room":"lobby","text":"@carol look","mentions":["carol"],"ts":"2026-05-01T09:30:00Z"}`, "11:30 [lobby] <bob> @carol look", false},
		{"MentionHistory", `{"type":"message","kind":"history","id":"m7","from":"bob","room":"lobby","text":"@alice earlier","mentions":["alice"],"ts":"2026-05-01T09:30:00Z"}`, "11:30 [lobby history] <bob> @alice earlier", false},
		{"HistoryEdited", `{"type":"message","kind":"history","id":"m8","from":"bob","room":"lobby","text":"fixed","edited":"2026-05-01T09:35:00Z","reactions":{"👍":["alice","carol"],"🎉":["dave"]},"ts":"2026-05-01T09:30:00Z"}`, "11:30 [lobby history] <bob> fixed (edited) [🎉 dave; 👍 alice, carol]", false},
		{"HistoryDeleted", `{"type":"message","kind":"history","id":"m9","from":"bob","room":"lobby","text":"","deleted":true,"ts":"2026-05-01T09:30:00Z"}`, "11:30 [lobby history] <bob> (message deleted)", false},
		{"Typing", `{"type":"typing","conversation":"#lobby","user":"bob"}`, "", false},
		{"WelcomeMentionCount", `{"type":"welcome","user":"alice","room":"lobby","online":["alice"],"mentions":2}`, "12:00 :: Welcome, alice! You are in lobby. Online: alice. Unread mentions: 2 (mentions lists them).", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, bell := r.Render(event(t, tc.line))
			if got != tc.want || bell != tc.bell {
				t.Fatalf("got %q bell=%v, want %q bell=%v", got, bell, tc.want, tc.bell)
			}
		})
	}
	r.IDs = true
	if got, _ := r.Render(event(t, `{"type":"message","kind":"room","id":"m9","from":"bob","room":"lobby","text":"hi","reply_to":"m1","ts":"2026-05-01T09:30:00Z"}`)); got != "11:30 [lobby] <bob> hi [m9]\n      ↪ in reply to bob: see you at noon" {
		t.Fatalf("with IDs: %q", got)
	}
	r.IDs = false
	r.Color = true
	if got, _ := r.Render(event(t, `{"type":"message","kind":"room","id":"m5","from":"bob","room":"lobby","text":"@alice look","mentions":["alice"]}`)); !strings.Contains(got, reverse+"@alice look") {
		t.Fatalf("a line naming me is not highlighted: %q", got)
	}
}

// TestActionLine: /edit, /delete, /reply and /react without an id act on
// the last line of the current room (my last for edit and delete); with
// an id, or with "last", the line goes as typed.
func TestActionLine(t *testing.T) {
	s := newSession(nil, &Renderer{Me: "alice"}, nil, "")
	s.room = "lobby"
	s.r.shown.note(Event{ID: "a1", From: "alice", Text: "mine"}, "#lobby")
	s.r.shown.note(Event{ID: "b1", From: "bob", Text: "his"}, "#lobby")
	s.r.shown.note(Event{ID: "c1", From: "carol", Text: "elsewhere"}, "#den")
	for _, tc := range []struct {
		name, line, want, problem string
	}{
		{"EditLast", "/edit fixed text", "edit a1 fixed text", ""},
		{"EditID", "/edit b1 fixed", "/edit b1 fixed", ""},
		{"EditWordLast", "edit last fixed", "edit last fixed", ""},
		{"EditNothing", "/edit", "", "usage: /edit [ID] TEXT (without an id: your last line here)"},
		{"DeleteLast", "/delete", "delete a1", ""},
		{"DeleteID", "/delete c1", "/delete c1", ""},
		{"ReplyLast", "/reply  sure thing", "reply b1 sure thing", ""},
		{"ReplyID", "/reply c1 sure", "/reply c1 sure", ""},
		{"ReactLast", "/react 👍", "react b1 👍", ""},
		{"ReactID", "/react c1 👍", "/react c1 👍", ""},
		{"UnreactLast", "/unreact 👍", "unreact b1 👍", ""},
		{"Other", "/who", "/who", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, problem := s.actionLine(tc.line)
			if got != tc.want || problem != tc.problem {
				t.Fatalf("got %q %q, want %q %q", got, problem, tc.want, tc.problem)
			}
		})
	}
	// My last line deleted: edit goes to the one before, or to the
	// server's own "last" when this client showed none.
	s.r.shown.get("a1").deleted = true
	if got, _ := s.actionLine("/edit again"); got != "edit last again" {
		t.Fatalf("edit with no line of mine shown: %q", got)
	}
	s.room = ""
	if _, problem := s.actionLine("/reply hi"); problem == "" {
		t.Fatal("a reply in no room found a line")
	}
	s.room = "empty"
	if _, problem := s.actionLine("/react 👍"); problem == "" {
		t.Fatal("a reaction in a room with no line shown found one")
	}
}

// FuzzActionLine: whatever is typed, actionLine does not panic, and it
// either sends a line or says why not.
func FuzzActionLine(f *testing.F) {
	for _, seed := range []string{"/edit fixed", "/delete", "delete a1", "/reply  x", "/react 👍", "react a1 👍 extra", "edit\t", " /edit ", "/unreact", "hello"} {
		f.Add(seed)
	}
	s := newSession(nil, &Renderer{Me: "alice"}, nil, "")
	s.room = "lobby"
	s.r.shown.note(Event{ID: "a1", From: "alice", Text: "mine"}, "#lobby")
	f.Fuzz(func(t *testing.T, line string) {
		out, problem := s.actionLine(line)
		if (out == "") == (problem == "") && strings.TrimSpace(line) != "" {
			t.Fatalf("%q gave %q and %q", line, out, problem)
		}
	})
}
