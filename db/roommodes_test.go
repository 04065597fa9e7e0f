package db

import (
	"context"
	"testing"

	"chatd"
)

// A room's flags and limit, its members' roles and its ban masks are
// stored with it, on both backends; the limit is counted with the insert.
func TestRoomModes(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob", "carol")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")

		checkCode(t, db.SetRoomModes(ctx, "DEN", "smx", 2), "")
		r, err := db.RoomByName(ctx, "den")
		if err != nil || r.Modes != "ms" || r.Limit != 2 {
			t.Fatalf("RoomByName = %+v, %v; want modes ms, limit 2", r, err)
		}
		checkCode(t, db.SetRoomModes(ctx, "attic", "m", 0), chatd.ENoSuchRoom)
		checkCode(t, db.SetRoomTopicBy(ctx, "den", "plans", "alice", t0), "")
		if r, err := db.RoomByName(ctx, "den"); err != nil || r.Topic != "plans" || r.TopicBy != "alice" || !r.TopicAt.Equal(t0) || r.Modes != "ms" {
			t.Fatalf("RoomByName after SetRoomTopicBy = %+v, %v", r, err)
		}

		// The limit: alice and bob fill it; carol is refused, then let in
		// when no limit is asked (an invitation).
		checkCode(t, db.AddMemberWithin(ctx, "alice", "den", t0, 0, 2), "")
		checkCode(t, db.AddMemberWithin(ctx, "bob", "den", t0, 0, 2), "")
		checkCode(t, db.AddMemberWithin(ctx, "bob", "den", t0, 0, 2), "") // already a member
		checkCode(t, db.AddMemberWithin(ctx, "carol", "den", t0, 0, 2), chatd.ERoomFull)
		checkCode(t, db.AddMemberWithin(ctx, "carol", "den", t0, 0, 0), "")

		// Roles belong to a membership and end with it.
		checkCode(t, db.SetMemberRole(ctx, "den", "BOB", "ov"), "")
		checkCode(t, db.SetMemberRole(ctx, "den", "nobody", "o"), chatd.ENoSuchUser)
		roles, err := db.MemberRoles(ctx, "den")
		if err != nil || len(roles) != 1 || roles["bob"] != "ov" {
			t.Fatalf("MemberRoles = %v, %v", roles, err)
		}
		if _, err := db.RemoveMember(ctx, "bob", "den"); err != nil {
			t.Fatal(err)
		}
		checkCode(t, db.SetMemberRole(ctx, "den", "bob", "v"), chatd.ENotInRoom)
		if roles, err := db.MemberRoles(ctx, "den"); err != nil || len(roles) != 0 {
			t.Fatalf("MemberRoles after leave = %v, %v", roles, err)
		}

		// Masks are kept as given, once each.
		checkCode(t, db.AddRoomMask(ctx, chatd.RoomMask{Room: "den", Mask: "Bar!*@*", By: "alice"}), "")
		checkCode(t, db.AddRoomMask(ctx, chatd.RoomMask{Room: "den", Mask: "Bar!*@*", By: "alice"}), chatd.EBadArgs)
		checkCode(t, db.AddRoomMask(ctx, chatd.RoomMask{Room: "den", Mask: "*!*@host", By: "bob", Created: t0}), "")
		masks, err := db.RoomMasks(ctx, "DEN")
		if err != nil || len(masks) != 2 || masks[0].Mask != "Bar!*@*" || masks[0].By != "alice" || masks[1].Room != "den" || !masks[1].Created.Equal(t0) {
			t.Fatalf("RoomMasks = %+v, %v", masks, err)
		}
		checkCode(t, db.RemoveRoomMask(ctx, "den", "", "Bar!*@*"), "")
		checkCode(t, db.RemoveRoomMask(ctx, "den", "", "Bar!*@*"), chatd.EBadArgs)
		if masks, err := db.RoomMasks(ctx, "den"); err != nil || len(masks) != 1 {
			t.Fatalf("RoomMasks after removal = %+v, %v", masks, err)
		}

		// Each list keeps its own masks: the same mask may be a ban, a
		// ban exception and an invite exception at once.
		checkCode(t, db.AddRoomMask(ctx, chatd.RoomMask{Room: "den", Mask: "*!*@host", Kind: chatd.MaskException}), "")
		checkCode(t, db.AddRoomMask(ctx, chatd.RoomMask{Room: "den", Mask: "*!*@host", Kind: chatd.MaskInvite}), "")
		checkCode(t, db.AddRoomMask(ctx, chatd.RoomMask{Room: "den", Mask: "a:bob", Kind: chatd.MaskInvite}), "")
		checkCode(t, db.AddRoomMask(ctx, chatd.RoomMask{Room: "den", Mask: "a:bob", Kind: chatd.MaskInvite}), chatd.EBadArgs)
		checkCode(t, db.RemoveRoomMask(ctx, "den", chatd.MaskException, "a:bob"), chatd.EBadArgs)
		checkCode(t, db.RemoveRoomMask(ctx, "den", chatd.MaskBan, "*!*@host"), "")
		masks, err = db.RoomMasks(ctx, "den")
		if err != nil || len(masks) != 3 || masks[0].Kind != chatd.MaskException || masks[1].Kind != chatd.MaskInvite || masks[2].Mask != "a:bob" {
			t.Fatalf("RoomMasks of the lists = %+v, %v", masks, err)
		}
	})
}
