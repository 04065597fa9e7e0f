package daemon

import (
	"context"
	"log/slog"
	"time"

	"chatd"
)

// historyWriter stores room chat for replay on join. It owns the writes so
// that chat fan-out never waits for the disk: lines are queued (bounded; a
// full queue makes senders wait, not lose lines) and written in order, all
// that was queued within historyLinger of the first in one transaction.
type historyWriter struct {
	store chatd.HistoryStore
	keep  func() int // messages.history_keep in force
	log   *slog.Logger
	ch    chan historyItem
	kick  chan struct{} // ends a linger early (flush, close)
	done  chan struct{}
}

// historyItem is a line to store, or (flushed set) a request to say when
// everything queued before it is stored.
type historyItem struct {
	line    chatd.RoomLine
	flushed chan struct{}
}

// historyBatch caps the lines written in one transaction.
const historyBatch = 512

// historyLinger is how long the writer collects lines after the first one
// before it commits them: at chat speed one transaction (and one fsync)
// then carries every line said meanwhile, instead of one each. A flush
// request commits at once.
const historyLinger = 250 * time.Millisecond

func newHistoryWriter(store chatd.HistoryStore, keep func() int, log *slog.Logger) *historyWriter {
	h := &historyWriter{store: store, keep: keep, log: log, ch: make(chan historyItem, 4096),
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go h.run()
	return h
}

func (h *historyWriter) add(room string, l chatd.HistoryLine) {
	if h.keep() > 0 {
		h.ch <- historyItem{line: chatd.RoomLine{Room: room, Line: l}}
	}
}

// tryAdd is add when it need not wait; it reports false, adding nothing,
// when the queue is full.
func (h *historyWriter) tryAdd(room string, l chatd.HistoryLine) bool {
	if h.keep() <= 0 {
		return true
	}
	select {
	case h.ch <- historyItem{line: chatd.RoomLine{Room: room, Line: l}}:
		return true
	default:
		return false
	}
}

// flush returns once every line added before it is in the database, so
// that history and search see what their user has just said.
func (h *historyWriter) flush() {
	done := make(chan struct{})
	h.ch <- historyItem{flushed: done}
	h.hurry()
	<-done
}

// hurry cuts the current linger short.
func (h *historyWriter) hurry() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *historyWriter) run() {
	defer close(h.done)
	batch := make([]chatd.RoomLine, 0, historyBatch)
	var waiting []chan struct{}
	linger := time.NewTimer(historyLinger)
	linger.Stop()
	items := make([]historyItem, 0, historyBatch)
	for first := range h.ch {
		batch, waiting = batch[:0], waiting[:0]
		clear(items)
		items = append(items[:0], first)
		// Linger without taking the lines as they come, so that a line
		// costs its sender no wake-up of this goroutine.
		if first.flushed == nil && len(h.ch) < historyBatch-1 {
			linger.Reset(historyLinger)
			select {
			case <-linger.C:
			case <-h.kick:
				linger.Stop()
			}
		}
	drain:
		for len(items) < historyBatch {
			select {
			case it, ok := <-h.ch:
				if !ok {
					break drain
				}
				items = append(items, it)
			default:
				break drain
			}
		}
		for _, it := range items {
			if it.flushed != nil {
				waiting = append(waiting, it.flushed)
			} else {
				batch = append(batch, it.line)
			}
		}
		if len(batch) > 0 {
			if err := h.store.AppendHistoryBatch(context.Background(), batch, h.keep()); err != nil {
				h.log.Error("store room history", "lines", len(batch), "err", err)
			}
		}
		for _, w := range waiting {
			close(w)
		}
	}
}

// close writes what is queued and stops. No add may follow.
func (h *historyWriter) close() {
	close(h.ch)
	h.hurry()
	<-h.done
}
