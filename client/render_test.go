package client

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func event(t *testing.T, line string) Event {
	t.Helper()
	var ev Event
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestRender(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, loc)
	r := &Renderer{Loc: loc, Now: func() time.Time { return now }, Me: "alice"}
	for _, tc := range []struct {
		name, line, want string
		bell             bool
	}{
		{"Room", `{"type":"message","kind":"room","from":"bob","room":"lobby","text":"hi","ts":"2026-05-01T09:30:00Z"}`, "11:30 [lobby] <bob> hi", false},
		{"Action", `{"type":"message","kind":"room","from":"bob","room":"ops","text":"waves","action":true,"ts":"2026-05-01T09:30:00Z"}`, "11:30 [ops] * bob waves", false},
		{"HistoryOtherDay", `{"type":"message","kind":"history","from":"bob","room":"ops","text":"old","ts":"2026-04-29T09:30:00Z"}`, "2026-04-29 11:30 [ops history] <bob> old", false},
		{"Private", `{"type":"message","kind":"private","from":"bob","to":["alice"],"text":"psst","ts":"2026-05-01T09:30:00Z"}`, "11:30 *bob* psst", true},
		{"PrivateToSeveral", `{"type":"message","kind":"private","from":"bob","to":["alice","carol"],"text":"psst","ts":"2026-05-01T09:30:00Z"}`, "11:30 *bob* → alice, carol psst", true},
		{"Broadcast", `{"type":"message","kind":"broadcast","from":"root","text":"reboot","ts":"2026-05-01T09:30:00Z"}`, "11:30 [broadcast] <root> reboot", false},
		{"Delivery", `{"type":"delivery","to":"bob","status":"stored"}`, "12:00 → bob: offline, kept for their next login", false},
		{"Presence", `{"type":"presence","user":"bob","event":"login","room":"lobby"}`, "12:00 -- bob logged in", false},
		{"Error", `{"type":"error","cmd":"join","code":"no_such_room","text":"no room x"}`, "12:00 !! no room x [no_such_room]", false},
		{"OkUsers", `{"type":"ok","cmd":"who","text":"2 online","users":["alice","bob"]}`, "12:00 :: 2 online\n      alice, bob", false},
		{"EscapesDropped", `{"type":"message","kind":"room","from":"bob","room":"lobby","text":"a\u001b[2Jb","ts":"2026-05-01T09:30:00Z"}`, "11:30 [lobby] <bob> a[2Jb", false},
		{"Prompt", `{"type":"prompt","field":"password"}`, "", false},
		{"PrivateHistory", `{"type":"message","kind":"history","id":"1","from":"bob","to":["alice"],"conversation":"@bob","text":"old","ts":"2026-05-01T09:30:00Z"}`, "11:30 [@bob history] <bob> old", false},
		{"RoomsMine", `{"type":"ok","cmd":"rooms","text":"you are in 2 rooms:","room":"den","rooms":[{"name":"lobby","unread":3,"topic":""},{"name":"den","unread":0,"topic":"plans"}]}`, "12:00 :: you are in 2 rooms:\n        lobby (3 unread)\n       *den (0 unread): plans", false},
		{"WelcomeUnread", `{"type":"welcome","user":"alice","room":"den","rooms":[{"name":"lobby","unread":2},{"name":"den","unread":0}],"online":["alice"],"unread":[{"conversation":"#lobby","count":2,"more":false}]}`, "12:00 :: Welcome, alice! You are in den. Your rooms: lobby, den. Online: alice. Unread: #lobby 2.", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, bell := r.Render(event(t, tc.line))
			if got != tc.want || bell != tc.bell {
				t.Fatalf("got %q bell=%v, want %q bell=%v", got, bell, tc.want, tc.bell)
			}
		})
	}
	r.Color = true
	if got, _ := r.Render(event(t, `{"type":"presence","user":"bob","event":"logout"}`)); !strings.Contains(got, "\x1b[36m") {
		t.Fatalf("no colour: %q", got)
	}
}

func TestComplete(t *testing.T) {
	cmds := []string{"who", "whoelse", "broadcast", "block"}
	users := []string{"Alice", "alex", "bob"}
	for _, tc := range []struct {
		name, line string
		want       string // "" means no change
		listed     string
	}{
		{"Command", "broa", "broadcast ", ""},
		{"CommandSlash", "/broa", "/broadcast ", ""},
		{"CommandCommonPart", "b", "b", "broadcast block"},
		{"CommandPrefixGrows", "wh", "who", ""},
		{"User", "send b", "send bob ", ""},
		{"UserAnyCase", "send ali", "send Alice ", ""},
		{"UserAmbiguous", "send al", "send al", "Alice alex"},
		{"UserInParens", "send (bo", "send (bob ", ""},
		{"Nothing", "send zed", "send zed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var listed []string
			line, pos, ok := complete(tc.line, len(tc.line), cmds, users, func(l []string) { listed = l })
			if !ok {
				line, pos = tc.line, len(tc.line)
			}
			if line != tc.want || pos != len(tc.want) {
				t.Fatalf("got %q at %d, want %q", line, pos, tc.want)
			}
			if got := strings.Join(listed, " "); got != tc.listed {
				t.Fatalf("listed %q, want %q", got, tc.listed)
			}
		})
	}
}
