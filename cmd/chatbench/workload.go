package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bench holds one run's settings and what it measured.
type bench struct {
	opts
	d     dialect
	proc  *proc
	lat   latencies
	recv  atomic.Int64 // room messages received, all clients
	lines atomic.Int64 // lines of any kind received by the readers
	busy  atomic.Int64 // server_busy refusals retried
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

// connect logs client i in, backing off and retrying while the server says
// it is busy, as a real client would.
func (b *bench) connect(ctx context.Context, i int) (*conn, error) {
	backoff := 50 * time.Millisecond
	for {
		c, err := dial(b.addrs[i%len(b.addrs)], b.source(i))
		if err != nil {
			return nil, err
		}
		err = b.d.login(c, b.name(i))
		if err == nil {
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

func stamp(sender, seq int) string {
	return stampPrefix + strconv.Itoa(sender) + " " + strconv.Itoa(seq) + " " + strconv.FormatInt(time.Now().UnixNano(), 10)
}

// latencyOf reads the send time back from a stamped text.
func latencyOf(text string, now time.Time) (time.Duration, bool) {
	i := strings.LastIndexByte(text, ' ')
	if i < 0 || len(text) < len(stampPrefix) || text[:len(stampPrefix)] != stampPrefix {
		return 0, false
	}
	ns, err := strconv.ParseInt(text[i+1:], 10, 64)
	if err != nil {
		return 0, false
	}
	return now.Sub(time.Unix(0, ns)), true
}

// read is one client's reader: it counts stamped room messages and their
// latency until the connection closes, answers IRC PINGs and tells a
// waiting join (c.joined) that it was answered.
func (b *bench) read(c *conn, wg *sync.WaitGroup) {
	defer wg.Done()
	var batch, calm []time.Duration
	defer func() { b.lat.add(batch); b.calm.add(calm) }()
	c.SetReadDeadline(time.Time{})
	for {
		line, err := c.next()
		if err != nil {
			return
		}
		b.lines.Add(1)
		if bytes.HasPrefix(line, []byte("PING ")) {
			c.send("PONG " + string(line[5:]))
			continue
		}
		if b.d.joinAck(line) {
			select {
			case c.joined <- struct{}{}:
			default:
			}
			continue
		}
		if text, isRoom, _ := b.d.parse(line); isRoom {
			now := time.Now()
			if d, ok := latencyOf(text, now); ok {
				b.recv.Add(1)
				// With a storm, a line counts by when it was sent: before
				// the storm, during it, or (after it) not at all.
				sent := now.Add(-d).UnixNano()
				switch start, end := b.stormStart.Load(), b.stormEnd.Load(); {
				case !b.storm:
					batch = append(batch, d)
				case start == 0 || sent < start:
					calm = append(calm, d)
				case end == 0 || sent <= end:
					batch = append(batch, d)
				}
			}
		}
	}
}

// chat runs the paced and burst workloads: every client is in one room;
// the first S send M stamped lines each, interval apart (0: flat out).
func (b *bench) chat(ctx context.Context, r *result) error {
	start := time.Now()
	conns, err := b.connectAll(ctx, 0, b.clients, b.parallel, true)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	r.ConnectSeconds = time.Since(start).Seconds()

	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Add(1)
		go b.read(c, &readers)
	}
	receivers := int64(b.clients)
	if !b.echo {
		receivers-- // IRC does not echo a line to its sender
	}
	expected := int64(b.senders*b.messages) * receivers
	before := b.proc.sample()
	t0 := time.Now()
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
				if err := c.send(b.d.roomLine(b.room, stamp(s, m))); err != nil {
					return
				}
			}
		}()
	}
	senders.Wait()
	sent := time.Since(t0)
	// Wait for the last deliveries, at most -drain.
	deadline := time.Now().Add(b.drain)
	for b.recv.Load() < expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(t0)
	after := b.proc.sample()
	closeAll(conns)
	readers.Wait()

	r.Expected = expected
	r.Deliveries = b.recv.Load()
	r.SendSeconds = sent.Seconds()
	r.Seconds = elapsed.Seconds()
	r.DeliveriesPerSec = float64(r.Deliveries) / elapsed.Seconds()
	r.setProc(before, after, r.Deliveries)
	return nil
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
	var stored atomic.Int64
	var readers sync.WaitGroup
	acks := make([]chan struct{}, len(conns))
	for i, c := range conns {
		acks[i] = make(chan struct{}, b.messages)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				line, err := c.readLine(time.Hour)
				if err != nil {
					return
				}
				if _, _, ok := b.d.parse(line); ok {
					stored.Add(1)
					acks[i] <- struct{}{}
				}
			}
		}()
	}
	before := b.proc.sample()
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
				select {
				case <-acks[i]:
				case <-time.After(b.drain):
					return
				}
			}
		}()
	}
	senders.Wait()
	elapsed := time.Since(t0)
	after := b.proc.sample()
	closeAll(conns)
	readers.Wait()
	r.Expected = int64(b.senders * b.messages)
	r.Stored = stored.Load()
	r.Seconds = elapsed.Seconds()
	r.StoredPerSec = float64(r.Stored) / elapsed.Seconds()
	r.setProc(before, after, r.Stored)
	return nil
}

// loginstorm registers N users, logs them out, then logs all N in at once
// while S users already online chat at -interval; it reports the time until
// the last is in, the retries, peak memory, and the chatters' latency
// before and during the storm.
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
	t0 := time.Now()
	b.stormStart.Store(t0.UnixNano())
	storm, err := b.connectAll(ctx, b.senders, b.senders+b.clients, b.clients, false)
	b.stormEnd.Store(time.Now().UnixNano())
	r.LoginSeconds = time.Since(t0).Seconds()
	after := b.proc.sample()
	close(stop)
	talk.Wait()
	<-sampling
	closeAll(storm)
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
