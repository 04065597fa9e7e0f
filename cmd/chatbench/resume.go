package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// resumeConvs is how many conversations each client of the resume
// workload catches up on: the bench room and two more.
const resumeConvs = 3

// resumeRooms are the resume workload's rooms: -room, then -room with 2
// and 3 appended.
func (b *bench) resumeRooms() []string {
	rooms := []string{b.room}
	for k := 2; k <= resumeConvs; k++ {
		rooms = append(rooms, b.room+strconv.Itoa(k))
	}
	return rooms
}

// resumeWriter is the sender number of the writer's stamped lines.
const resumeWriter = 0

// resume is a reconnect storm: N clients, members of three rooms, have
// seen the last line of each when they all drop; a writer (user N) then
// says -messages lines in each room; all N reconnect at once and each
// asks `history #ROOM after ID` for its three rooms, ID being the last
// line it saw. It reports the time until the last client has all three
// answers, each client's time to be caught up (as the latencies), the
// history lines the answers carried (the deliveries, of N × 3 ×
// -messages expected) and the server's CPU over the storm.
func (b *bench) resume(ctx context.Context, r *result) error {
	if b.messages > historyPage {
		return fmt.Errorf("-messages %d: at most %d, one history page per room", b.messages, historyPage)
	}
	rooms := b.resumeRooms()
	start := time.Now()
	conns, err := b.connectRooms(ctx, rooms)
	if err != nil {
		return err
	}
	r.ConnectSeconds = time.Since(start).Seconds()
	b.quiet(ctx)

	// The writer says one line in each room: the last line every client
	// saw before it dropped.
	w, err := b.connect(ctx, b.clients)
	if err != nil {
		closeAll(conns)
		return fmt.Errorf("the writer: %w", err)
	}
	defer w.Close()
	marks := make([]string, len(rooms))
	for k, room := range rooms {
		if err := b.d.join(w, room); err != nil {
			closeAll(conns)
			return fmt.Errorf("the writer: %w", err)
		}
		if marks[k], err = b.sayAndWait(w, room, "seen "+room); err != nil {
			closeAll(conns)
			return fmt.Errorf("the writer: %w", err)
		}
	}
	b.quiet(ctx)

	// Everyone drops: each logs out, and its reader ends as the server
	// closes the connection.
	for _, c := range conns {
		c.send("logout")
	}
	stopped := make(chan struct{})
	go func() { b.readers.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(b.drain):
		closeAll(conns)
		<-stopped
	}
	closeAll(conns)

	// What they miss: -messages stamped lines in each room.
	for m := 0; m < b.messages; m++ {
		for _, room := range rooms {
			if _, err := b.sayAndWait(w, room, stamp(resumeWriter, m)); err != nil {
				return fmt.Errorf("the writer: %w", err)
			}
		}
	}

	// The storm: all at once, each asks for the three rooms after the
	// line it saw, and is caught up once the three answers are in.
	lines0 := b.recv.Load()
	before := b.begin()
	t0 := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	again := make([]*conn, b.clients)
	for i := range b.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := b.catchUp(ctx, i, rooms, marks, t0)
			if err != nil {
				failed.Add(1)
				once.Do(func() { firstErr = fmt.Errorf("client %d: %w", i, err) })
				return
			}
			again[i] = c
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	after := b.end()
	closeAll(again)
	if firstErr != nil {
		return fmt.Errorf("%d of %d clients did not catch up: %w", failed.Load(), b.clients, firstErr)
	}
	r.Expected = int64(b.clients * len(rooms) * b.messages)
	r.Deliveries = b.recv.Load() - lines0
	r.Seconds = elapsed.Seconds()
	r.DeliveriesPerSec = float64(r.Deliveries) / elapsed.Seconds()
	r.setProc(before, after, r.Deliveries)
	return nil
}

// historyPage is the most lines one history answer carries.
const historyPage = 200

// connectRooms logs clients 0..N-1 in, -parallel at once, each joining
// every room, and starts each one's reader once it is in all of them.
func (b *bench) connectRooms(ctx context.Context, rooms []string) ([]*conn, error) {
	// The first makes the rooms; the rest then only join them.
	conns := make([]*conn, b.clients)
	sem := make(chan struct{}, b.parallel)
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for i := range b.clients {
		wg.Add(1)
		sem <- struct{}{}
		run := func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := b.connect(ctx, i)
			for _, room := range rooms {
				if err == nil {
					err = b.d.join(c, room)
				}
			}
			if err != nil {
				if c != nil {
					c.Close()
				}
				once.Do(func() { firstErr = fmt.Errorf("client %d: %w", i, err) })
				return
			}
			conns[i] = c
			b.readers.Add(1)
			go b.skim(c)
		}
		if i == 0 {
			run()
			continue
		}
		go run()
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(conns)
		b.readers.Wait()
		return nil, firstErr
	}
	return conns, nil
}

// skim reads c until it closes, counting the lines (for quiet) and
// nothing else: before the storm a client only has to keep reading; the
// lines of its other rooms are not the bench room's deliveries.
func (b *bench) skim(c *conn) {
	defer b.readers.Done()
	c.SetReadDeadline(time.Time{})
	for c.lr.fill() == nil {
		var n int64
		for {
			if _, ok := c.lr.line(); !ok {
				break
			}
			n++
		}
		b.lines.Add(n)
	}
}

// sayAndWait says text in room from c and returns the id of the line,
// from the sender's own copy of it.
func (b *bench) sayAndWait(c *conn, room, text string) (string, error) {
	if err := c.send("say #" + room + " " + text); err != nil {
		return "", err
	}
	var id string
	err := c.until(loginWait, func(line []byte) (bool, error) {
		obj, ok := decodeObject(line)
		if !ok {
			return false, nil
		}
		if obj["type"] == "error" {
			return false, fmt.Errorf("say #%s: %v: %v", room, obj["code"], obj["text"])
		}
		if obj["type"] != "message" || obj["kind"] != "room" || obj["room"] != room || obj["text"] != text {
			return false, nil
		}
		id, _ = obj["id"].(string)
		if id == "" {
			return false, errors.New("a room line without an id")
		}
		return true, nil
	})
	return id, err
}

// catchUp is one client of the resume storm: it logs client i in, asks
// for each room's lines after marks[k] and reads until the three answers
// are in, counting the stamped lines they carry (bench.recv) and its time
// since t0 (bench.lat).
func (b *bench) catchUp(ctx context.Context, i int, rooms, marks []string, t0 time.Time) (*conn, error) {
	c, err := b.connect(ctx, i)
	if err != nil {
		return nil, err
	}
	asks := make([]string, len(rooms))
	for k, room := range rooms {
		asks[k] = "history #" + room + " after " + marks[k] + " " + strconv.Itoa(historyPage)
	}
	if err := c.send(asks...); err != nil {
		c.Close()
		return nil, err
	}
	// A line counts once: the login's replay of unread lines may bring
	// some of the same lines before the answers do.
	seen := make([]bool, len(rooms)*b.messages)
	var got, answers int64
	var ev jsonFields
	err = c.until(loginWait, func(line []byte) (bool, error) {
		if !parseEvent(line, &ev) {
			b.bad.Add(1)
			return false, nil
		}
		switch string(ev.typ) {
		case "message":
			if string(ev.kind) != "history" {
				return false, nil
			}
			st, ok := parseStamp(ev.text)
			k := slices.Index(rooms, string(ev.room))
			if ok && k >= 0 && st.sender == resumeWriter && st.seq < b.messages && !seen[k*b.messages+st.seq] {
				seen[k*b.messages+st.seq] = true
				got++
			}
		case "ok":
			if string(ev.cmd) == "history" {
				answers++
			}
		case "error":
			return false, fmt.Errorf("history: %s: %s", ev.code, ev.text)
		}
		return answers == int64(len(rooms)), nil
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	b.recv.Add(got)
	var h histogram
	h.add(time.Since(t0))
	b.lat.add(&h)
	return c, nil
}
