package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatd"
	"chatd/daemon"
	"chatd/db"
	"chatd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// startNode starts one node of a cluster whose shared state is in the
// PostgreSQL database at url, with the store in the SQLite file at path
// (shared by the nodes of this test, which run in one process).
func startNode(t *testing.T, url, path, node string, mutate ...func(*chatd.Config)) *testServer {
	t.Helper()
	cfg := testConfig(t)
	cfg.Database.Path = path
	cfg.Cluster.Node = node
	cfg.Cluster.NodeTimeout = chatd.Duration{Duration: 900 * time.Millisecond}
	for _, m := range mutate {
		m(&cfg)
	}
	store, err := db.Open(path)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	cl, err := db.OpenCluster(context.Background(), url, node)
	if err != nil {
		t.Fatalf("open cluster: %v", err)
	}
	logLevel := slog.LevelWarn
	if os.Getenv("CHATD_TEST_LOG") != "" {
		logLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})).With("node", node)
	clk := &clock{}
	ready := make(chan struct{})
	srv := daemon.New(daemon.Options{Config: cfg, Store: store, Cluster: cl, Log: log, Now: clk.now,
		OnReady: func() { close(ready) }})
	if err := srv.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, cfg: cfg, srv: srv, store: store, addr: srv.Addr().String(),
		cancel: cancel, done: make(chan error, 1), clock: clk}
	served := make(chan struct{})
	go func() { ts.done <- srv.Serve(ctx); close(served) }()
	t.Cleanup(func() { ts.stop(); cl.Close() })
	// Until it has joined the cluster a node refuses connections.
	select {
	case <-ready:
	case <-served:
		t.Fatal("the node stopped before it was ready")
	}
	return ts
}

// threeNodes starts a cluster of three nodes with alice, bob, carol and
// dave registered.
func threeNodes(t *testing.T, mutate ...func(*chatd.Config)) []*testServer {
	t.Helper()
	url := pgtest.URL(t)
	path := filepath.Join(t.TempDir(), "chatd.db")
	var nodes []*testServer
	for i := range 3 {
		nodes = append(nodes, startNode(t, url, path, fmt.Sprintf("n%d", i+1), mutate...))
	}
	nodes[0].addUsers("alice", "bob", "carol", "dave")
	return nodes
}

func TestClusterRoomChatCrossesNodes(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	carol := login(t, n[2].addr, "carol", "password1")
	alice.expect("presence", "user", "carol", "event", "login")
	for _, c := range []*client{alice, bob, carol} {
		c.send("who")
		ev := c.expect("ok", "cmd", "who")
		if got := fmt.Sprint(ev.strs("users")); got != "[alice bob carol]" {
			t.Fatalf("%s: who = %s", c.name, got)
		}
	}
	alice.send("create den")
	alice.expect("ok", "cmd", "create")
	bob.send("join den")
	bob.expect("ok", "cmd", "join")
	alice.expect("room", "event", "joined", "user", "bob")
	carol.send("join den")
	carol.expect("ok", "cmd", "join")
	alice.expect("room", "event", "joined", "user", "carol")
	bob.expect("room", "event", "joined", "user", "carol")

	// Three senders at once on three nodes: every member sees the same
	// order, each sender's lines in the order sent.
	const lines = 20
	for i := range lines {
		alice.send(fmt.Sprintf("a%d", i))
		bob.send(fmt.Sprintf("b%d", i))
		carol.send(fmt.Sprintf("c%d", i))
	}
	var orders [3][]string
	for i, c := range []*client{alice, bob, carol} {
		for len(orders[i]) < 3*lines {
			ev := c.expect("message", "kind", "room")
			orders[i] = append(orders[i], ev.str("text"))
		}
	}
	for i := 1; i < 3; i++ {
		if fmt.Sprint(orders[i]) != fmt.Sprint(orders[0]) {
			t.Fatalf("node %d saw\n%v\nnode 1 saw\n%v", i+1, orders[i], orders[0])
		}
	}
	next := map[byte]int{}
	for _, text := range orders[0] {
		var who byte
		var k int
		fmt.Sscanf(text, "%c%d", &who, &k)
		if k != next[who] {
			t.Fatalf("out of order: %s after %d lines of %c: %v", text, next[who], who, orders[0])
		}
		next[who]++
	}
}

func TestClusterPrivateAndOfflineMessagesOnce(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	alice.send("send bob hello over there")
	alice.expect("delivery", "to", "bob", "status", "delivered")
	bob.expect("message", "kind", "private", "from", "alice", "text", "hello over there")
	bob.send("away lunch")
	bob.expect("ok", "cmd", "away")
	alice.expect("presence", "user", "bob", "event", "away")
	alice.send("send bob are you there")
	ev := alice.expect("delivery", "to", "bob", "status", "delivered")
	if ev.str("away") != "lunch" {
		t.Fatalf("delivery to an away user on another node: %v", ev)
	}
	bob.expect("message", "kind", "private", "text", "are you there")

	// carol is offline: stored once, delivered once on whichever node
	// she logs in to, and not again on another.
	alice.send("send (bob carol) for both")
	alice.expect("delivery", "to", "carol", "status", "stored")
	bob.expect("message", "kind", "private", "text", "for both")
	carol := login(t, n[2].addr, "carol", "password1")
	carol.expect("message", "kind", "offline", "text", "for both")
	carol.send("logout")
	carol.expect("bye")
	carol = login(t, n[1].addr, "carol", "password1")
	carol.send("say done")
	for {
		ev := carol.next()
		if ev.str("kind") == "offline" {
			t.Fatalf("offline message delivered twice: %v", ev)
		}
		if ev.str("type") == "message" && ev.str("text") == "done" {
			break
		}
	}
}

func TestClusterPresenceAndDuplicateLogin(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	alice.expect("presence", "user", "bob", "event", "login")

	// The same user on another node is refused while bob is online.
	again := dial(t, n[2].addr)
	again.send("bob")
	again.expectNext("prompt", "field", "password")
	again.send("password1")
	again.expectError("login", "already_online")

	bob.send("check alice")
	ev := bob.expect("ok", "cmd", "check")
	info, _ := ev["info"].(map[string]any)
	if info["online"] != true || info["room"] != chatd.Lobby {
		t.Fatalf("check of a user on another node: %v", ev)
	}
	bob.send("logout")
	bob.expect("bye")
	alice.expect("presence", "user", "bob", "event", "logout")
	alice.send("who")
	if got := fmt.Sprint(alice.expect("ok", "cmd", "who").strs("users")); got != "[alice]" {
		t.Fatalf("who after bob left: %s", got)
	}
}

func TestClusterDuplicateLoginReplaces(t *testing.T) {
	n := threeNodes(t, func(c *chatd.Config) { c.Accounts.DuplicateLogin = "replace" })
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	bob2 := login(t, n[2].addr, "bob", "password1")
	bob.expect("bye", "reason", "replaced")
	alice.send("send bob which one")
	alice.expect("delivery", "to", "bob", "status", "delivered")
	bob2.expect("message", "kind", "private", "text", "which one")
	alice.send("who")
	if got := fmt.Sprint(alice.expect("ok", "cmd", "who").strs("users")); got != "[alice bob]" {
		t.Fatalf("who after the replacement: %s", got)
	}
}

func TestClusterModerationAcrossNodes(t *testing.T) {
	n := threeNodes(t)
	n[0].addUser("root", "password1", true)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	carol := login(t, n[2].addr, "carol", "password1")
	root := login(t, n[2].addr, "root", "password1")
	alice.send("create den")
	alice.expect("ok", "cmd", "create")
	for _, c := range []*client{bob, carol} {
		c.send("join den")
		c.expect("ok", "cmd", "join")
		// The other nodes learn of a move in the transaction that
		// announces it, a moment after the mover's own reply.
		alice.expect("room", "event", "joined", "user", c.name)
	}
	alice.send("topic nice things")
	id := alice.expect("ok", "cmd", "topic").str("id")
	// The change's id (its history entry's) travels with the note.
	for _, c := range []*client{bob, carol} {
		if ev := c.expect("room", "event", "topic", "topic", "nice things"); id == "" || ev.str("id") != id {
			t.Errorf("%s: topic event id %q, want the setter's %q", c.name, ev.str("id"), id)
		}
	}

	// The owner on node 1 kicks bob on node 2 out of the room.
	alice.send("kick bob")
	alice.expect("ok", "cmd", "kick")
	carol.expect("room", "event", "kicked", "user", "bob")
	bob.expect("room", "event", "kicked", "user", "bob")
	bob.send("names den")
	if got := fmt.Sprint(bob.expect("ok", "cmd", "names").strs("users")); got != "[alice carol]" {
		t.Fatalf("den after the kick: %s", got)
	}

	// An admin on node 3 bans bob on node 2 from the server.
	root.send("ban bob 1h spam")
	root.expect("ok", "cmd", "ban")
	bob.expect("bye", "reason", "banned")
	carol.expect("presence", "user", "bob", "event", "banned")

	// The owner closes the room: carol on node 3 is put in the lobby.
	alice.send("close den")
	alice.expect("ok", "cmd", "close")
	carol.expect("room", "event", "closed", "room", "den")
	carol.send("names")
	if got := carol.expect("ok", "cmd", "names").str("room"); got != chatd.Lobby {
		t.Fatalf("carol is in %s after the close", got)
	}
	root.send("kick carol")
	root.expect("ok", "cmd", "kick")
	carol.expect("bye", "reason", "kicked")
}

func TestClusterBroadcastAndShutdownOfOneNode(t *testing.T) {
	n := threeNodes(t)
	n[0].addUser("root", "password1", true)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	root := login(t, n[2].addr, "root", "password1")
	alice.send("broadcast hear ye")
	bob.expect("message", "kind", "broadcast", "text", "hear ye")
	root.expect("message", "kind", "broadcast", "text", "hear ye")
	root.send("shutdown bye now")
	root.expect("bye", "reason", "shutdown")
	alice.expect("presence", "user", "root", "event", "shutdown")
	// The other nodes serve on.
	alice.send("send bob still here")
	alice.expect("delivery", "to", "bob", "status", "delivered")
	bob.expect("message", "kind", "private", "text", "still here")
}

func TestClusterRoomOwnershipAcrossNodes(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	carol := login(t, n[2].addr, "carol", "password1")
	alice.send("create den secret1")
	alice.expect("ok", "cmd", "create")
	alice.send("invite bob")
	alice.expect("ok", "cmd", "invite")
	bob.expect("room", "event", "invited", "room", "den")
	bob.send("join den")
	bob.expect("ok", "cmd", "join")
	alice.expect("room", "event", "joined", "user", "bob")

	// alice on n1 gives the room to bob on n2, who bans her from it.
	alice.send("transfer bob")
	alice.expect("ok", "cmd", "transfer")
	bob.expect("room", "event", "owner", "user", "bob")
	bob.send("roomban alice 1h")
	bob.expect("ok", "cmd", "roomban")
	alice.expect("room", "event", "banned", "user", "alice")
	alice.send("names")
	if got := alice.expect("ok", "cmd", "names").str("room"); got != chatd.Lobby {
		t.Fatalf("alice is in %s after the room ban", got)
	}
	// alice was never out of the lobby (PROTOCOL.md 9.3), so carol on n3
	// hears nothing of the ban; her node's tables have it once n1 has
	// written alice's leave, which she asks until it shows (bounded).
	var den map[string]any
	for range 100 {
		carol.send("rooms")
		ev := carol.expect("ok", "cmd", "rooms")
		rooms, _ := ev["rooms"].([]any)
		for _, r := range rooms {
			if m, _ := r.(map[string]any); m["name"] == "den" {
				den = m
			}
		}
		if den != nil && fmt.Sprint(den["members"]) == "[bob]" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fmt.Sprint(den["members"]) != "[bob]" || den["owner"] != "bob" {
		t.Fatalf("den seen from n3: %v", den)
	}
}

func TestClusterWhoElseLastActive(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	login(t, n[1].addr, "bob", "password1")
	carol := login(t, n[2].addr, "carol", "password1")
	alice.expect("presence", "user", "carol", "event", "login")
	for _, q := range []struct{ cmd, want string }{
		{"whoelse", "[bob carol]"},
		{"last 5", "[alice bob carol]"},
		{"active 5", "[alice bob carol]"},
	} {
		alice.send(q.cmd)
		if got := fmt.Sprint(alice.expect("ok").strs("users")); got != q.want {
			t.Fatalf("%s on n1: %s, want %s", q.cmd, got, q.want)
		}
	}
	// dave was never here; carol leaves and is still in last.
	carol.send("logout")
	carol.expect("bye")
	alice.expect("presence", "user", "carol", "event", "logout")
	alice.send("last 5")
	if got := fmt.Sprint(alice.expect("ok", "cmd", "last").strs("users")); got != "[alice bob carol]" {
		t.Fatalf("last 5 after carol left: %s", got)
	}
	alice.send("whoelse")
	if got := fmt.Sprint(alice.expect("ok", "cmd", "whoelse").strs("users")); got != "[bob]" {
		t.Fatalf("whoelse after carol left: %s", got)
	}
}

// TestClusterKickAndRoomBanSameOrderOnEveryNode puts users out of a room
// from the node they are on and from another node: wherever it is typed,
// the user leaves the room first and hears why as part of that move (the
// kick, then the lobby's recent lines), and the room's members are told
// after the move, so what they ask next no longer finds the user inside.
func TestClusterKickAndRoomBanSameOrderOnEveryNode(t *testing.T) {
	n := threeNodes(t)
	n[0].addUsers("erin")
	alice := login(t, n[0].addr, "alice", "password1")
	carol := login(t, n[0].addr, "carol", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	dave := login(t, n[1].addr, "dave", "password1")
	erin := login(t, n[1].addr, "erin", "password1")
	alice.send("before the room")
	alice.expect("message", "kind", "room", "text", "before the room")
	alice.send("create den")
	alice.expect("ok", "cmd", "create")
	joinDen := func(c *client) {
		t.Helper()
		c.send("join den")
		c.expect("ok", "cmd", "join")
		alice.expect("room", "event", "joined", "user", c.name)
	}
	for _, c := range []*client{carol, bob, dave, erin} {
		joinDen(c)
	}
	// Each put-out user hears of it (and stays in the lobby, which they
	// never left: no replay of it).
	heardFirst := func(c *client, event string) {
		t.Helper()
		c.expect("room", "event", event, "user", c.name)
	}
	// A member on the put-out user's node asks at once: the user is out.
	notInDen := func(c *client, event, who string) {
		t.Helper()
		c.expect("room", "event", event, "user", who)
		c.send("names den")
		for _, u := range c.expect("ok", "cmd", "names").strs("users") {
			if u == who {
				t.Fatalf("%s: names den still lists %s after the %s", c.name, who, event)
			}
		}
	}

	alice.send("kick carol") // typed on carol's node
	alice.expect("ok", "cmd", "kick")
	heardFirst(carol, "kicked")
	notInDen(erin, "kicked", "carol")

	alice.send("kick bob") // typed on another node
	alice.expect("ok", "cmd", "kick")
	heardFirst(bob, "kicked")
	notInDen(erin, "kicked", "bob")

	joinDen(carol)
	alice.send("roomban carol 1h")
	alice.expect("ok", "cmd", "roomban")
	heardFirst(carol, "banned")

	alice.send("roomban dave 1h")
	alice.expect("ok", "cmd", "roomban")
	heardFirst(dave, "banned")
	notInDen(erin, "banned", "dave")
}

// Issue 19, item 4: only the recipient's node acts on a private message.
// With three nodes, a bystander node used to store every message it read
// in the log in the recipient's mailbox, so messages delivered live came
// back as offline mail at the next login.
func TestClusterPrivateMessagesNotStoredByBystanders(t *testing.T) {
	n := threeNodes(t, func(c *chatd.Config) { c.Messages.OfflineLimit = 20 })
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	carol := login(t, n[2].addr, "carol", "password1") // a bystander on n3
	alice.expect("presence", "user", "carol", "event", "login")
	const sends = 60
	for i := range sends {
		alice.send(fmt.Sprintf("send bob live-%02d", i))
		alice.expect("delivery", "to", "bob", "status", "delivered")
	}
	for i := range sends {
		bob.expect("message", "kind", "private", "text", fmt.Sprintf("live-%02d", i))
	}
	// Every node has read every note once carol's node shows a later one.
	alice.send("broadcast all read")
	carol.expect("message", "kind", "broadcast", "text", "all read")
	bob.expect("message", "kind", "broadcast", "text", "all read")
	waiting, err := n[0].store.OfflineCount(context.Background(), "bob")
	if err != nil || waiting != 0 {
		t.Fatalf("bob's mailbox after %d live deliveries: %d rows (err %v)", sends, waiting, err)
	}
	bob.send("logout")
	bob.expect("bye")
	bob = login(t, n[2].addr, "bob", "password1")
	bob.send("say back")
	for {
		ev := bob.next()
		if ev.str("kind") == "offline" {
			t.Fatalf("a message delivered live came again as offline mail: %v", ev)
		}
		if ev.str("type") == "message" && ev.str("text") == "back" {
			break
		}
	}
}

// A user in two rooms (and the lobby) on one node gets the lines of both
// from the other nodes, and every node answers names, rooms and leave per
// room.
func TestClusterUserInTwoRooms(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	carol := login(t, n[2].addr, "carol", "password1")
	alice.do("create den", "create")
	carol.do("create attic", "create")
	bob.do("join den", "join")
	bob.do("join attic", "join")
	settleAll(alice, bob, carol)
	alice.send("say #den from alice")
	if m := bob.expect("message", "kind", "room", "from", "alice"); m.str("room") != "den" {
		t.Fatalf("bob got %v", m)
	}
	carol.send("in the attic")
	if m := bob.expect("message", "kind", "room", "from", "carol"); m.str("room") != "attic" {
		t.Fatalf("bob got %v", m)
	}
	// Every node sees bob in both rooms and the lobby, attic current.
	for _, c := range []*client{alice, carol} {
		for _, r := range []string{"den", "attic", "lobby"} {
			if got := c.users("names #"+r, "names"); !strings.Contains(got, "bob") {
				t.Fatalf("%s: names #%s = %s", c.name, r, got)
			}
		}
		if room := c.do("check bob", "check")["info"].(map[string]any)["room"]; room != "attic" {
			t.Fatalf("%s: bob's room is %v", c.name, room)
		}
	}
	bob.do("leave den", "leave")
	alice.expect("room", "event", "left", "room", "den", "user", "bob")
	if got := carol.users("names #den", "names"); got != "alice" {
		t.Fatalf("names #den after bob left = %s", got)
	}
	if got := carol.users("names #attic", "names"); got != "bob,carol" {
		t.Fatalf("names #attic = %s", got)
	}
}

// multiCluster starts three nodes that allow several sessions per user,
// at most two.
func multiCluster(t *testing.T) []*testServer {
	t.Helper()
	return threeNodes(t, func(c *chatd.Config) {
		c.Accounts.DuplicateLogin = "multi"
		c.Accounts.MaxSessions = 2
	})
}

// upTo reads c's events until the room line text and returns those before
// it. A line said after a change is in the cluster's log after that
// change's events, so whatever the change showed c comes first.
func (c *client) upTo(text string) []event {
	c.t.Helper()
	var seen []event
	for {
		ev := c.next()
		if ev.str("type") == "message" && ev.str("text") == text {
			return seen
		}
		seen = append(seen, ev)
	}
}

// noPresence fails if one of evs is a presence event of user.
func noPresence(t *testing.T, evs []event, user string) {
	t.Helper()
	for _, ev := range evs {
		if ev.str("type") == "presence" && ev.str("user") == user {
			t.Fatalf("unexpected presence event: %v", ev)
		}
	}
}

// Issue 20, items 4 and 8: one user on two nodes (duplicate_login =
// "multi") is one user to the others and gets everything on both devices.
func TestClusterSeveralDevicesAcrossNodes(t *testing.T) {
	n := multiCluster(t)
	alice := login(t, n[0].addr, "alice", "password1")
	carol := login(t, n[1].addr, "carol", "password1")
	bob1 := login(t, n[1].addr, "bob", "password1")
	alice.expect("presence", "user", "bob", "event", "login")
	bob2 := login(t, n[2].addr, "bob", "password1")
	bob1.expect("notice", "text", "bob has a new session from 127.0.0.1")

	// Presence once: the second device is no login to others.
	bob2.send("say from the second device")
	noPresence(t, alice.upTo("from the second device"), "bob")
	bob1.expect("message", "kind", "room", "text", "from the second device")
	if got := alice.users("who", "who"); got != "alice,bob,carol" {
		t.Fatalf("who with bob on two nodes = %s", got)
	}
	if s := alice.do("check bob", "check")["info"].(map[string]any)["sessions"]; fmt.Sprint(s) != "2" {
		t.Fatalf("check bob: sessions = %v", s)
	}

	// A room line reaches both devices.
	alice.send("say hello room")
	bob1.expect("message", "kind", "room", "text", "hello room")
	bob2.expect("message", "kind", "room", "text", "hello room")

	// A private message from a third node, and from one of bob's nodes,
	// reaches both devices, delivered once.
	alice.send("send bob hello both")
	alice.expect("delivery", "to", "bob", "status", "delivered")
	bob1.expect("message", "kind", "private", "from", "alice", "text", "hello both")
	bob2.expect("message", "kind", "private", "from", "alice", "text", "hello both")
	carol.send("send bob from n2")
	carol.expect("delivery", "to", "bob", "status", "delivered")
	bob1.expect("message", "kind", "private", "from", "carol", "text", "from n2")
	bob2.expect("message", "kind", "private", "from", "carol", "text", "from n2")

	// What bob sends shows on his other device.
	bob1.send("send alice sent from n2")
	bob1.expect("delivery", "to", "alice", "status", "delivered")
	alice.expect("message", "kind", "private", "from", "bob", "text", "sent from n2")
	bob2.expect("message", "kind", "private", "from", "bob", "text", "sent from n2")

	// The first device leaves: no logout while the second is online.
	bob1.send("logout")
	bob1.expect("bye")
	bob2.send("say still here")
	noPresence(t, alice.upTo("still here"), "bob")
	bob2.send("logout")
	bob2.expect("bye")
	alice.expect("presence", "user", "bob", "event", "logout")
	if got := alice.users("who", "who"); got != "alice,carol" {
		t.Fatalf("who after bob's last device left = %s", got)
	}
	// Nothing delivered live waits in the mailbox.
	if waiting, err := n[0].store.OfflineCount(context.Background(), "bob"); err != nil || waiting != 0 {
		t.Fatalf("bob's mailbox: %d (err %v)", waiting, err)
	}
}

// An admin's kick ends a user's sessions on every node, and
// accounts.max_sessions counts them all: of two logins racing for the
// last place on two nodes, exactly one gets in.
func TestClusterSeveralDevicesKickAndLimit(t *testing.T) {
	n := multiCluster(t)
	n[0].addUser("root", "password1", true)
	root := login(t, n[0].addr, "root", "password1")
	alice := login(t, n[0].addr, "alice", "password1")
	bob1 := login(t, n[0].addr, "bob", "password1")

	// Both logins are sent before either is answered: the nodes run them
	// at once.
	var racing []*client
	for _, node := range n[1:] {
		c := dial(t, node.addr)
		c.name = "bob"
		c.send("bob", "password1")
		racing = append(racing, c)
	}
	var in []*client
	refused := 0
	for _, c := range racing {
		for {
			ev := c.next()
			if ev.str("type") == "welcome" {
				in = append(in, c)
				break
			}
			if ev.str("type") == "error" {
				if ev.str("code") != "too_many_sessions" {
					t.Fatalf("a login beyond max_sessions: %v", ev)
				}
				refused++
				break
			}
		}
	}
	if len(in) != 1 || refused != 1 {
		t.Fatalf("two logins racing for one place: %d in, %d refused", len(in), refused)
	}
	bob2 := in[0]
	again := dial(t, n[0].addr)
	again.send("bob")
	again.expectNext("prompt", "field", "password")
	again.send("password1")
	again.expectError("login", "too_many_sessions")

	root.send("kick bob")
	root.expect("ok", "cmd", "kick")
	bob1.expect("bye", "reason", "kicked")
	bob2.expect("bye", "reason", "kicked")
	alice.expect("presence", "user", "bob", "event", "kicked")
	if got := alice.users("who", "who"); got != "alice,root" {
		t.Fatalf("who after the kick = %s", got)
	}
}
