package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// bench holds one run's settings and what it measured.
type bench struct {
	opts
	d    dialect
	proc *proc
	// profFile is the -cpuprofile output while the profile runs.
	profFile *os.File
	lat      latencies
	recv     atomic.Int64 // room messages received, all clients
	lines    atomic.Int64 // lines of any kind received by the readers
	busy     atomic.Int64 // server_busy refusals retried
	bad      atomic.Int64 // lines that were malformed or unexpected (lineBad)
	// readNew starts a reader (read) on each client as soon as it is
	// logged in, so that what the server sends during the setup (chatd
	// tells everyone online of each login) is read as a real client
	// would, and no client looks like one that stopped reading.
	readNew bool
	readers sync.WaitGroup
	// storm (loginstorm) sorts latencies by when the line was sent:
	// before stormStart into calm, up to stormEnd into lat (unix ns; 0:
	// not yet).
	storm                bool
	calm                 latencies
	stormStart, stormEnd atomic.Int64
	// priv is the private workload's bookkeeping (nil in the others).
	priv *privTally
}

// source is the local address for client i: clients are spread over
// -sources loopback addresses (127.0.0.1, 127.0.0.2, ...), which lifts the
// ~28k ephemeral ports of a single source address.
func (b *bench) source(i int) string {
	if b.sources <= 1 {
		return ""
	}
	n := i % b.sources
	return fmt.Sprintf("127.0.%d.%d", (n+1)/256, (n+1)%256)
}

func (b *bench) name(i int) string { return fmt.Sprintf("%s%d", b.prefix, i) }

// account is the user client i logs in as: with -devices D, clients N
// … D·N-1 are the further sessions of users 0 … N-1, in turn.
func (b *bench) account(i int) string {
	if b.devices > 1 {
		return b.name(i % b.clients)
	}
	return b.name(i)
}

// connect logs client i in, backing off and retrying while the server says
// it is busy, as a real client would.
func (b *bench) connect(ctx context.Context, i int) (*conn, error) {
	backoff := 50 * time.Millisecond
	for {
		c, err := dial(b.addrs[i%len(b.addrs)], b.source(i))
		if err != nil {
			return nil, err
		}
		err = b.d.login(c, b.account(i))
		if err == nil {
			c.idx = i
			return c, nil
		}
		c.Close()
		if !errors.Is(err, errBusy) {
			return nil, err
		}
		b.busy.Add(1)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// connectAll logs in clients [from, to) with at most par logins at once.
func (b *bench) connectAll(ctx context.Context, from, to, par int, join bool) ([]*conn, error) {
	if join && to-from > 1 {
		// The first makes the room; the rest then only join it.
		first, err := b.connectAll(ctx, from, from+1, 1, true)
		if err != nil {
			return nil, err
		}
		rest, err := b.connectAll(ctx, from+1, to, par, true)
		if err != nil {
			closeAll(first)
			return nil, err
		}
		return append(first, rest...), nil
	}
	conns := make([]*conn, to-from)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for i := from; i < to; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := b.connect(ctx, i)
			if err == nil && join {
				if err = b.d.join(c, b.room); err != nil {
					c.Close()
				}
			}
			if err != nil {
				once.Do(func() { firstErr = fmt.Errorf("client %d: %w", i, err) })
				return
			}
			conns[i-from] = c
			if b.readNew {
				b.readers.Add(1)
				go b.read(c, &b.readers)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// stampPrefix marks benchmark lines; the rest is sender and send time.
const stampPrefix = "bench "

func stamp(sender, seq int) string { return stampAt(sender, seq, time.Now().UnixNano()) }

// stampAt is stamp with the send time given (unix ns).
func stampAt(sender, seq int, ns int64) string {
	return stampPrefix + strconv.Itoa(sender) + " " + strconv.Itoa(seq) + " " + strconv.FormatInt(ns, 10)
}

// read is one client's reader goroutine: it counts stamped room messages
// and their latency until the connection closes, answers IRC PINGs and
// tells a waiting join (c.joined) that it was answered. (readAll does the
// same for many clients on a few goroutines.)
func (b *bench) read(c *conn, wg *sync.WaitGroup) {
	defer wg.Done()
	r := b.newClientReader(c)
	defer r.done()
	c.SetReadDeadline(time.Time{})
	now := time.Now().UnixNano()
	for {
		r.drain(now)
		if c.lr.fill() != nil {
			return
		}
		now = time.Now().UnixNano()
	}
}

// clientReader is what one client's reading keeps: its latencies, merged
// into the bench's when it is done.
type clientReader struct {
	b           *bench
	c           *conn
	batch, calm histogram
	ack         histogram // private: send to the sender's delivery status
}

func (b *bench) newClientReader(c *conn) *clientReader { return &clientReader{b: b, c: c} }

func (r *clientReader) done() {
	r.b.lat.add(&r.batch)
	r.b.calm.add(&r.calm)
	if r.b.priv != nil {
		r.b.priv.ackLat.add(&r.ack)
	}
}

// drain handles every whole line the client's buffer holds, all read at
// now (unix ns): the lines of one read(2) share one clock reading (they
// arrived together), and the shared counters are added to once per
// read, not per line.
func (r *clientReader) drain(now int64) {
	b, c := r.b, r.c
	var lines, recv, bad int64
	// With a storm, a line counts by when it was sent: before the storm,
	// during it, or (after it) not at all.
	start, end := b.stormStart.Load(), b.stormEnd.Load()
	for {
		line, ok := c.lr.line()
		if !ok {
			break
		}
		lines++
		kind, st := b.d.classify(line)
		switch kind {
		case lineRoom:
			recv++
			sent := st.ns
			d := time.Duration(now - sent)
			switch {
			case !b.storm:
				r.batch.add(d)
			case start == 0 || sent < start:
				r.calm.add(d)
			case end == 0 || sent <= end:
				r.batch.add(d)
			}
		case linePing:
			c.send("PONG " + string(line[len("PING "):]))
		case lineJoined:
			select {
			case c.joined <- struct{}{}:
			default:
			}
		case linePrivate:
			if b.priv == nil || !b.priv.first(st, c.idx) {
				bad++ // not this run's, or not to this client, or again
				continue
			}
			recv++
			r.batch.add(time.Duration(now - st.ns))
		case lineDelivered, lineStored:
			if b.priv == nil {
				continue // offline reads its own answers (awaitStored)
			}
			var sent int64
			select {
			case sent = <-c.pending:
			default:
				bad++ // an answer to nothing this client sent
				continue
			}
			if kind == lineStored {
				bad++ // the recipient was not online: no live delivery
				continue
			}
			b.priv.acked.Add(1)
			r.ack.add(time.Duration(now - sent))
		case lineBad:
			bad++
		}
	}
	if lines > 0 {
		b.lines.Add(lines)
	}
	if recv > 0 {
		b.recv.Add(recv)
	}
	if bad > 0 {
		b.bad.Add(bad)
	}
}

// readGoroutines reads every conn on a goroutine of its own (read); stop
// closes them and waits for the readers to finish.
func (b *bench) readGoroutines(conns []*conn) (stop func()) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go b.read(c, &wg)
	}
	return func() { closeAll(conns); wg.Wait() }
}

// begin starts the measured part of a workload: it samples the CPU
// times (and the server's memory) and, with -cpuprofile, starts profiling
// the load tool. end samples again and stops the profile.
func (b *bench) begin() procSample {
	if b.profile != "" {
		f, err := os.Create(b.profile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "chatbench: -cpuprofile:", err)
		} else {
			b.profFile = f
		}
	}
	return b.proc.sample()
}

func (b *bench) end() procSample {
	s := b.proc.sample()
	if b.profFile != nil {
		pprof.StopCPUProfile()
		b.profFile.Close()
		b.profFile = nil
	}
	return s
}

// chat runs the paced and burst workloads: every client is in one room;
// the first S send M stamped lines each, interval apart (0: flat out).
func (b *bench) chat(ctx context.Context, r *result) error {
	start := time.Now()
	conns, err := b.connectAll(ctx, 0, b.clients, b.parallel, true)
	if err != nil {
		return err
	}
	defer func() { closeAll(conns) }()
	if b.devices > 1 {
		// The further sessions are in the room through their account.
		more, err := b.connectAll(ctx, b.clients, b.clients*b.devices, b.parallel, false)
		if err != nil {
			return err
		}
		conns = append(conns, more...)
	}
	r.ConnectSeconds = time.Since(start).Seconds()

	stopReading := b.readAll(conns)
	// The setup's traffic (each join announced to the members before
	// it, N² lines on both servers) is read to its end before the
	// measured part, so that the first lines of chat do not queue
	// behind it in the clients' sockets.
	b.quiet(ctx)
	receivers := int64(b.clients * b.devices)
	if !b.echo {
		// IRC does not echo a line to its sender, nor (without
		// echo-message) to the sender's other sessions.
		receivers -= int64(b.devices)
	}
	expected := int64(b.senders*b.messages) * receivers
	before := b.begin()
	t0 := time.Now()
	b.pace(ctx, conns, func(c *conn, s, m int) error {
		return c.send(b.d.roomLine(b.room, stamp(s, m)))
	})
	sent := time.Since(t0)
	b.await(ctx, func() bool { return b.recv.Load() >= expected })
	elapsed := time.Since(t0)
	after := b.end()
	stopReading()

	r.Expected = expected
	r.Deliveries = b.recv.Load()
	r.SendSeconds = sent.Seconds()
	r.Seconds = elapsed.Seconds()
	r.DeliveriesPerSec = float64(r.Deliveries) / elapsed.Seconds()
	r.setProc(before, after, r.Deliveries)
	return nil
}

// pace has the first -senders conns send -messages lines each (send(c,
// s, m) sends sender s's m-th), -interval apart, the senders spread
// evenly over one interval (0: flat out), and returns when all are sent.
func (b *bench) pace(ctx context.Context, conns []*conn, send func(c *conn, s, m int) error) {
	var senders sync.WaitGroup
	for s := 0; s < b.senders && s < len(conns); s++ {
		senders.Add(1)
		go func() {
			defer senders.Done()
			c := conns[s]
			if b.interval > 0 {
				// Spread the senders evenly over one interval.
				time.Sleep(time.Duration(s) * b.interval / time.Duration(b.senders))
			}
			next := time.Now()
			for m := 0; m < b.messages && ctx.Err() == nil; m++ {
				if b.interval > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(b.interval)
				}
				if err := send(c, s, m); err != nil {
					return
				}
			}
		}()
	}
	senders.Wait()
}

// await waits for the last deliveries, until done says they are all
// in, at most -drain.
func (b *bench) await(ctx context.Context, done func() bool) {
	deadline := time.Now().Add(b.drain)
	for !done() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// private runs the private workload: N clients online, none in a room;
// the first S send M stamped private messages each, -interval apart as in
// paced, each to the next of the other clients in turn (privTally.to).
// It measures the latency from the send until the recipient has the
// message, and until the sender has its delivery status.
func (b *bench) private(ctx context.Context, r *result) error {
	b.priv = newPrivTally(b.clients, b.senders, b.messages)
	start := time.Now()
	conns, err := b.connectAll(ctx, 0, b.clients, b.parallel, false)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	r.ConnectSeconds = time.Since(start).Seconds()
	for _, c := range conns[:b.senders] {
		c.pending = make(chan int64, b.messages)
	}

	stopReading := b.readAll(conns)
	b.quiet(ctx) // the logins' presence events, as in chat
	expected := int64(b.senders * b.messages)
	before := b.begin()
	t0 := time.Now()
	b.pace(ctx, conns, func(c *conn, s, m int) error {
		ns := time.Now().UnixNano()
		c.pending <- ns // before the line: its answer may come at once
		return c.send(b.d.privateLine(b.name(b.priv.to(s, m)), stampAt(s, m, ns)))
	})
	sent := time.Since(t0)
	b.await(ctx, func() bool { return b.recv.Load() >= expected && b.priv.acked.Load() >= expected })
	elapsed := time.Since(t0)
	after := b.end()
	// A message that arrives twice may come after the last one that was
	// missing: read until the server is quiet before stopping.
	b.quiet(ctx)
	stopReading()

	r.Expected = expected
	r.Deliveries = b.recv.Load()
	r.Answers = b.priv.acked.Load()
	r.Duplicates = b.priv.dups.Load()
	r.SendSeconds = sent.Seconds()
	r.Seconds = elapsed.Seconds()
	r.DeliveriesPerSec = float64(r.Deliveries) / elapsed.Seconds()
	r.setProc(before, after, r.Deliveries)
	a := b.priv.ackLat.summary()
	r.AnswerP50, r.AnswerP90, r.AnswerP99, r.AnswerMax = ms(a.P50), ms(a.P90), ms(a.P99), ms(a.Max)
	return nil
}

// privTally is what the private workload's readers count, over all
// clients.
type privTally struct {
	clients, senders, messages int
	// seen is, by sender*messages+seq, whether that message has reached
	// its recipient.
	seen   []atomic.Bool
	dups   atomic.Int64 // messages that reached their recipient again
	acked  atomic.Int64 // delivered statuses the senders received
	ackLat latencies    // from the send to its delivered status
}

func newPrivTally(clients, senders, messages int) *privTally {
	return &privTally{clients: clients, senders: senders, messages: messages,
		seen: make([]atomic.Bool, senders*messages)}
}

// to is the recipient of sender s's m-th message: the other clients in
// turn, starting with the one after s.
func (p *privTally) to(s, m int) int { return (s + 1 + m%(p.clients-1)) % p.clients }

// first says whether st is a message of this run to client idx that
// reaches it for the first time; a second time counts as a duplicate.
func (p *privTally) first(st stamped, idx int) bool {
	if st.sender >= p.senders || st.seq >= p.messages || p.to(st.sender, st.seq) != idx {
		return false
	}
	if p.seen[st.sender*p.messages+st.seq].Swap(true) {
		p.dups.Add(1)
		return false
	}
	return true
}

// idle logs N clients in and leaves them idle: the server's memory per
// logged-in connection.
//
// Every client reads what it is sent from its login on, as a real one
// does. The figure is (RSS after - RSS before) / N, where after is read
// once the logins are over and the server has been quiet (what the clients
// receive has stopped growing) for -settle, so both servers are measured
// at rest the same way.
func (b *bench) idle(ctx context.Context, r *result) error {
	before := b.proc.sample()
	start := time.Now()
	b.readNew = true
	conns, err := b.connectAll(ctx, 0, b.clients, b.parallel, false)
	if err != nil {
		return err
	}
	defer func() { closeAll(conns); b.readers.Wait() }()
	r.ConnectSeconds = time.Since(start).Seconds()
	r.Lines = b.quiet(ctx)
	after := b.proc.sample()
	r.setProc(before, after, 0)
	if b.proc != nil {
		r.RSSPerConnKiB = float64(after.rss-before.rss) / 1024 / float64(b.clients)
	}
	return nil
}

// quiet waits until the clients have received nothing new for -settle (or
// -drain has passed) and returns the lines they received so far.
func (b *bench) quiet(ctx context.Context) int64 {
	deadline := time.Now().Add(b.drain)
	last, since := b.lines.Load(), time.Now()
	for time.Since(since) < b.settle && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		if n := b.lines.Load(); n != last {
			last, since = n, time.Now()
		}
	}
	return last
}

// join logs N clients in (they stay in the lobby, or connected without a
// channel on IRC), then has all but the first, who made the room, join one
// room, -parallel joins in flight at once, each client waiting for the
// answer to its own join. It reports the time until the last join was
// answered, the server's CPU time and memory growth over the joins, and
// the lines the clients received meanwhile (the presence events the joins
// caused), until the server went quiet.
func (b *bench) join(ctx context.Context, r *result) error {
	first, err := b.connectAll(ctx, 0, 1, 1, true) // makes the room
	if err != nil {
		return err
	}
	b.readNew = true
	b.readers.Add(1)
	go b.read(first[0], &b.readers)
	conns, err := b.connectAll(ctx, 1, b.clients, b.parallel, false)
	conns = append(conns, first...)
	defer func() { closeAll(conns); b.readers.Wait() }()
	if err != nil {
		return err
	}
	b.quiet(ctx)
	joiners := conns[:len(conns)-1]
	lines0 := b.lines.Load()
	before := b.proc.sample()
	t0 := time.Now()
	sem := make(chan struct{}, b.parallel)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for _, c := range joiners {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if c.send(b.d.joinLine(b.room)) != nil {
				failed.Add(1)
				return
			}
			if !b.waitJoined(ctx, c) {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	r.JoinSeconds = time.Since(t0).Seconds()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d joins were not answered", n, len(joiners))
	}
	r.Lines = b.quiet(ctx) - lines0
	r.Seconds = time.Since(t0).Seconds()
	after := b.proc.sample()
	r.setProc(before, after, 0)
	if after.rss != 0 && len(joiners) > 0 {
		r.CPUPerJoinUS = float64((after.cpu - before.cpu).Microseconds()) / float64(len(joiners))
		r.RSSGrowthBytes = after.rss - before.rss
	}
	return nil
}

// waitJoined waits for c's join to be answered, as long as other clients'
// waits keep ending within -login-wait (lastProgress).
func (b *bench) waitJoined(ctx context.Context, c *conn) bool {
	start := time.Now().UnixNano()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.joined:
			lastProgress.Store(time.Now().UnixNano())
			return true
		case <-ctx.Done():
			return false
		case <-tick.C:
			if time.Since(time.Unix(0, max(start, lastProgress.Load()))) >= loginWait {
				return false
			}
		}
	}
}

// offline has S senders (users 0..S-1) store M private messages each for
// S users who are offline (users S..2S-1), each waiting for its `stored`
// before the next: acknowledged (committed) messages per second.
func (b *bench) offline(ctx context.Context, r *result) error {
	// The recipients: register them, then log them out.
	rcpts, err := b.connectAll(ctx, b.senders, 2*b.senders, b.parallel, false)
	if err != nil {
		return err
	}
	for _, c := range rcpts {
		b.d.logout(c)
		c.Close()
	}
	conns, err := b.connectAll(ctx, 0, b.senders, b.parallel, false)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	// Each sender reads its own connection: it sends one message, then
	// reads until that message is acknowledged, without a second
	// goroutine, a channel or a timer per message.
	var stored atomic.Int64
	before := b.begin()
	t0 := time.Now()
	var senders sync.WaitGroup
	for i, c := range conns {
		senders.Add(1)
		go func() {
			defer senders.Done()
			to := b.name(b.senders + i)
			for m := 0; m < b.messages && ctx.Err() == nil; m++ {
				if err := c.send(b.d.privateLine(to, stamp(i, m))); err != nil {
					return
				}
				// At most -drain for the acknowledgement.
				c.SetReadDeadline(time.Now().Add(b.drain))
				if !b.awaitStored(c) {
					return
				}
				stored.Add(1)
			}
		}()
	}
	senders.Wait()
	elapsed := time.Since(t0)
	after := b.end()
	closeAll(conns)
	r.Expected = int64(b.senders * b.messages)
	r.Stored = stored.Load()
	r.Seconds = elapsed.Seconds()
	r.StoredPerSec = float64(r.Stored) / elapsed.Seconds()
	r.setProc(before, after, r.Stored)
	return nil
}

// awaitStored reads c until the server acknowledges a private message as
// stored, counting the lines read and the bad ones; false if the
// connection fails or its read deadline passes first.
func (b *bench) awaitStored(c *conn) bool {
	var lines, bad int64
	defer func() {
		b.lines.Add(lines)
		if bad > 0 {
			b.bad.Add(bad)
		}
	}()
	for {
		line, err := c.next()
		if err != nil {
			return false
		}
		lines++
		switch kind, _ := b.d.classify(line); kind {
		case lineStored:
			return true
		case lineBad:
			bad++
		}
	}
}

// loginstorm registers N users, logs them out, then logs all N in at once
// while S users already online chat at -interval; it reports the time until
// the last is in, the retries, peak memory, and the chatters' latency
// before and during the storm.
//
// The storm's clients log in from a process of their own (stormClients),
// as they would from other machines: in this one, a thousand goroutines
// dialling at once would hold both of Go's run queues for tens of
// milliseconds, and the chatters' readers, queued behind them, would
// measure the load tool's backlog instead of the server's latency.
func (b *bench) loginstorm(ctx context.Context, r *result) error {
	b.storm = true
	accounts, err := b.connectAll(ctx, b.senders, b.senders+b.clients, b.parallel, false)
	if err != nil {
		return err
	}
	for _, c := range accounts {
		b.d.logout(c)
		c.Close()
	}
	chatters, err := b.connectAll(ctx, 0, b.senders, b.parallel, true)
	if err != nil {
		return err
	}
	defer closeAll(chatters)
	var readers sync.WaitGroup
	for _, c := range chatters {
		readers.Add(1)
		go b.read(c, &readers)
	}
	stop := make(chan struct{})
	var talk sync.WaitGroup
	for s, c := range chatters {
		talk.Add(1)
		go func() {
			defer talk.Done()
			t := time.NewTicker(max(b.interval, 10*time.Millisecond))
			defer t.Stop()
			for m := 0; ; m++ {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				if c.send(b.d.roomLine(b.room, stamp(s, m))) != nil {
					return
				}
			}
		}()
	}
	time.Sleep(b.settle) // the calm before the storm

	var peak atomic.Int64
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		for {
			if s := b.proc.sample(); s.rss > peak.Load() {
				peak.Store(s.rss)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	before := b.proc.sample()
	storm, err := b.startStorm(ctx)
	if err == nil {
		err = storm.wait(b, r)
	}
	after := b.proc.sample()
	close(stop)
	talk.Wait()
	<-sampling
	if storm != nil {
		after.self += storm.end()
	}
	closeAll(chatters)
	readers.Wait()
	if err != nil {
		return err
	}
	r.BackgroundP99Before = ms(b.calm.summary().P99)
	r.BackgroundP99During = ms(b.lat.summary().P99)
	r.setProc(before, after, 0)
	r.PeakRSSBytes = peak.Load()
	return nil
}

// stormProc is the process that runs the storm's clients for loginstorm
// (chatbench -workload storm-clients, stormClients). It says "start" just
// before it dials, "in NS BUSY" once every client is logged in (NS
// nanoseconds after the start, BUSY server_busy retries), and holds the
// clients until its standard input closes.
type stormProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string   // its output, closed at its end
	done  chan struct{} // closed once it has exited; err is then Wait's result
	err   error
}

// stormChildEnv is set in the storm process's environment. The real binary
// ignores it; the test binary runs main when it sees it (TestMain).
const stormChildEnv = "CHATBENCH_STORM_CHILD"

func (b *bench) startStorm(ctx context.Context) (*stormProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("the storm process: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-workload", "storm-clients", "-addr", b.addr,
		"-dialect", b.dialect, "-clients", strconv.Itoa(b.clients), "-senders", strconv.Itoa(b.senders),
		"-sources", strconv.Itoa(b.sources), "-prefix", b.prefix, "-password", b.password,
		"-room", b.room, "-timeout", b.timeout.String(), "-login-wait", loginWait.String())
	cmd.Env = append(os.Environ(), stormChildEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("the storm process: %w", err)
	}
	p := &stormProc{cmd: cmd, in: in, lines: make(chan string, 2), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait() // only once the output is read to its end
		close(p.done)
	}()
	return p, nil
}

// wait follows the storm: the chatters' lines sent from its start to its
// end count as sent during the storm.
func (p *stormProc) wait(b *bench, r *result) error {
	line, ok := <-p.lines
	if !ok || line != "start" {
		return p.failed(line)
	}
	b.stormStart.Store(time.Now().UnixNano())
	line, ok = <-p.lines
	b.stormEnd.Store(time.Now().UnixNano())
	var ns, busy int64
	if !ok {
		return p.failed("")
	}
	if _, err := fmt.Sscanf(line, "in %d %d", &ns, &busy); err != nil {
		return p.failed(line)
	}
	r.LoginSeconds = time.Duration(ns).Seconds()
	b.busy.Add(busy)
	return nil
}

// failed explains an unexpected line (or the end) from the storm process.
func (p *stormProc) failed(line string) error {
	if line != "" {
		return fmt.Errorf("the storm process said %q", line)
	}
	for range p.lines {
	}
	<-p.done
	if p.err != nil {
		return fmt.Errorf("the storm process: %w", p.err)
	}
	return errors.New("the storm process ended early")
}

// end lets the storm's clients go and returns the process's CPU time.
func (p *stormProc) end() time.Duration {
	p.in.Close()
	for range p.lines {
	}
	<-p.done
	if st := p.cmd.ProcessState; st != nil {
		return st.UserTime() + st.SystemTime()
	}
	return 0
}

// stormClients is the storm process's side: every client of the storm
// dials and logs in at once.
func (b *bench) stormClients(ctx context.Context) error {
	fmt.Println("start")
	t0 := time.Now()
	conns, err := b.connectAll(ctx, b.senders, b.senders+b.clients, b.clients, false)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	fmt.Printf("in %d %d\n", time.Since(t0).Nanoseconds(), b.busy.Load())
	_, err = io.Copy(io.Discard, os.Stdin) // until loginstorm is done
	return err
}
