package db

import (
	"context"
	"slices"
	"testing"
	"time"

	"chatd"
)

func TestCreateRoom(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		created := t0.Add(-time.Hour)
		tests := []struct {
			name string
			room chatd.Room
			want chatd.Code
			read *chatd.Room
		}{
			{"OK", chatd.Room{Name: "Den", Owner: "alice", PassHash: "h", Created: created}, "",
				&chatd.Room{Name: "Den", Owner: "alice", PassHash: "h", Created: created, Modes: chatd.DefaultRoomModes}},
			{"OKZeroCreatedIsNow", chatd.Room{Name: "open", Owner: "bob"}, "",
				&chatd.Room{Name: "open", Owner: "bob", Created: t0, Modes: chatd.DefaultRoomModes}},
			{"OKModes", chatd.Room{Name: "quiet", Owner: "bob", Modes: "tmi", Limit: 3}, "",
				&chatd.Room{Name: "quiet", Owner: "bob", Created: t0, Modes: "imt", Limit: 3}},
			{"ErrRoomExists", chatd.Room{Name: "games", Owner: "bob"}, chatd.ERoomExists, nil},
			{"ErrRoomExistsOtherCase", chatd.Room{Name: "GAMES", Owner: "bob"}, chatd.ERoomExists, nil},
			{"ErrLobbyExists", chatd.Room{Name: "Lobby", Owner: "bob"}, chatd.ERoomExists, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "games", Owner: "carol"}, 0, 0), "")
				checkCode(t, db.CreateRoomLimited(ctx, tt.room, 0, 0), tt.want)
				if tt.want != "" {
					if r, err := db.RoomByName(ctx, tt.room.Name); err != nil || r.Owner == tt.room.Owner {
						t.Errorf("existing room changed: %+v, %v", r, err)
					}
					return
				}
				r, err := db.RoomByName(ctx, tt.room.Name)
				if err != nil || *r != *tt.read {
					t.Errorf("RoomByName = %+v, %v; want %+v", r, err, tt.read)
				}
			})
		}
	})
}

func TestRoomByName(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "Den", Owner: "alice"}, 0, 0), "")
		tests := []struct {
			name     string
			lookup   string
			wantName string
			want     chatd.Code
		}{
			{"OK", "Den", "Den", ""},
			{"OKOtherCase", "dEN", "Den", ""},
			{"OKLobby", "LOBBY", chatd.Lobby, ""},
			{"ErrNoSuchRoom", "attic", "", chatd.ENoSuchRoom},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r, err := db.RoomByName(ctx, tt.lookup)
				checkCode(t, err, tt.want)
				if err == nil && r.Name != tt.wantName {
					t.Errorf("RoomByName(%s).Name = %s, want %s", tt.lookup, r.Name, tt.wantName)
				}
			})
		}
	})
}

func TestRooms(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name  string
			rooms []string
			want  []string
		}{
			{"OKOnlyLobby", nil, []string{"lobby"}},
			{"OKSortedIgnoringCase", []string{"Zoo", "attic", "Music", "den"}, []string{"attic", "den", "lobby", "Music", "Zoo"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				for _, n := range tt.rooms {
					checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: n, Owner: "x"}, 0, 0), "")
				}
				rooms, err := db.Rooms(ctx)
				checkCode(t, err, "")
				var got []string
				for _, r := range rooms {
					got = append(got, r.Name)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("Rooms = %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestDeleteRoom(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name string
			room string
			want chatd.Code
		}{
			{"OK", "den", ""},
			{"OKOtherCase", "DEN", ""},
			{"ErrNoSuchRoom", "attic", chatd.ENoSuchRoom},
			{"ErrLobby", "lobby", chatd.ENotPermitted},
			{"ErrLobbyOtherCase", "Lobby", chatd.ENotPermitted},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
				appendLine(t, db, "den", chatd.HistoryLine{From: "alice", Text: "old"}, 10)
				err := db.DeleteRoom(ctx, tt.room)
				checkCode(t, err, tt.want)
				if tt.want == chatd.ENotPermitted {
					if msg := chatd.ErrorMessage(err); msg != "the lobby cannot be closed" {
						t.Errorf("message = %q", msg)
					}
					if _, err := db.RoomByName(ctx, chatd.Lobby); err != nil {
						t.Errorf("the lobby is gone: %v", err)
					}
				}
				if tt.want != "" {
					return
				}
				_, err = db.RoomByName(ctx, "den")
				checkCode(t, err, chatd.ENoSuchRoom)
				// A new room of the same name does not inherit the old history.
				checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "bob"}, 0, 0), "")
				if h, err := db.History(ctx, "den", 10); err != nil || len(h) != 0 {
					t.Errorf("History of the new den = %+v, %v; want none", h, err)
				}
			})
		}
	})
}
