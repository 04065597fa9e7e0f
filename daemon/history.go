package daemon

import (
	"context"
	"log/slog"
	"time"

	"chatd"
)

// historyWriter stores room chat for replay on join, and private messages
// in their conversations. It owns the writes so that chat fan-out and
// send never wait for the disk: lines are queued (bounded; a
// full queue makes senders wait, not lose lines) and written in order, all
// that was queued within historyLinger of the first in one transaction.
//
// Its goroutine runs from start (Serve) to close; a writer never started
// holds nothing. Once close was called, add drops what it cannot queue
// and flush returns when the goroutine is gone: a session still running
// after a bounded shutdown never waits on a writer that stopped.
type historyWriter struct {
	store chatd.HistoryStore
	keep  func() int // messages.history_keep in force
	log   *slog.Logger
	ch    chan historyItem
	kick  chan struct{} // ends a linger early (flush, close)
	quit  chan struct{} // closed by close: write what is queued, then stop
	done  chan struct{} // closed when run has returned
}

// historyItem is a room line to store, a private message (private set),
// or (flushed set) a request to say when everything queued before it is
// stored.
type historyItem struct {
	line    chatd.RoomLine
	private *chatd.PrivateLine
	flushed chan struct{}
}

// historyBatch caps the lines written in one transaction. Large, because
// a line's index entries land on pages all over a big index (a private
// conversation's pair, its recipient), and a commit writes each page it
// changed once, however many lines it holds: the bigger the batch, the
// fewer pages per line (docs/performance.md, "Offline mail and the
// history writer"). Such a batch holds SQLite's one writer, and so the
// mailer, for some tens of milliseconds.
const historyBatch = 2048

// historyLinger is how long the writer collects lines after the first one
// before it commits them: at chat speed one transaction (and one fsync)
// then carries every line said meanwhile, instead of one each. A flush
// request commits at once.
const historyLinger = 250 * time.Millisecond

// historyWriteTimeout bounds one transaction of the writer: a database
// that stalls longer loses that batch (logged), not the writer.
const historyWriteTimeout = 30 * time.Second

func newHistoryWriter(store chatd.HistoryStore, keep func() int, log *slog.Logger) *historyWriter {
	return &historyWriter{store: store, keep: keep, log: log, ch: make(chan historyItem, 4096),
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// start runs the writer until close. Its writes use ctx: once ctx ends,
// what is left is dropped (logged) instead of waited for.
func (h *historyWriter) start(ctx context.Context) { go h.run(ctx) }

func (h *historyWriter) add(room string, l chatd.HistoryLine) {
	if h.keep() > 0 {
		select {
		case h.ch <- historyItem{line: chatd.RoomLine{Room: room, Line: l}}:
		case <-h.quit: // stopped: the line stays in memory only
		}
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

// addPrivate queues a private message for the conversation between its
// sender and with, as add does a room line.
func (h *historyWriter) addPrivate(with string, l chatd.HistoryLine) {
	if h.keep() > 0 {
		select {
		case h.ch <- historyItem{private: &chatd.PrivateLine{With: with, Line: l}}:
		case <-h.quit:
		}
	}
}

// flush returns once every line added before it is in the database, so
// that history and search see what their user has just said.
func (h *historyWriter) flush() {
	done := make(chan struct{})
	select {
	case h.ch <- historyItem{flushed: done}:
	case <-h.done:
		return
	}
	h.hurry()
	select {
	case <-done:
	case <-h.done:
	}
}

// hurry cuts the current linger short.
func (h *historyWriter) hurry() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *historyWriter) run(ctx context.Context) {
	defer close(h.done)
	// Grown as the load needs, so that a quiet server holds little.
	var batch []chatd.RoomLine
	var private []chatd.PrivateLine
	var waiting []chan struct{}
	linger := time.NewTimer(historyLinger)
	linger.Stop()
	var items []historyItem
	for {
		clear(batch) // hold no texts between batches
		clear(private)
		batch, private, waiting = batch[:0], private[:0], waiting[:0]
		clear(items)
		items = items[:0]
		select {
		case first := <-h.ch:
			items = append(items, first)
			// Linger without taking the lines as they come, so that a
			// line costs its sender no wake-up of this goroutine.
			if first.flushed == nil && len(h.ch) < historyBatch-1 {
				linger.Reset(historyLinger)
				select {
				case <-linger.C:
				case <-h.kick:
					linger.Stop()
				case <-h.quit:
					linger.Stop()
				}
			}
		case <-h.quit:
			if len(h.ch) == 0 {
				return
			}
		}
	drain:
		for len(items) < historyBatch {
			select {
			case it := <-h.ch:
				items = append(items, it)
			default:
				break drain
			}
		}
		for _, it := range items {
			if it.flushed != nil {
				waiting = append(waiting, it.flushed)
			} else if it.private != nil {
				private = append(private, *it.private)
			} else {
				batch = append(batch, it.line)
			}
		}
		if len(batch) > 0 {
			wctx, cancel := context.WithTimeout(ctx, historyWriteTimeout)
			err := h.store.AppendHistoryBatch(wctx, batch, h.keep())
			cancel()
			if err != nil {
				h.log.Error("store room history", "lines", len(batch), "err", err)
			}
		}
		if len(private) > 0 {
			wctx, cancel := context.WithTimeout(ctx, historyWriteTimeout)
			err := h.store.AppendPrivateBatch(wctx, private, h.keep())
			cancel()
			if err != nil {
				h.log.Error("store private history", "messages", len(private), "err", err)
			}
		}
		for _, w := range waiting {
			close(w)
		}
	}
}

// close asks the writer to write what is queued and stop; done is closed
// once it has. Called once, by Serve.
func (h *historyWriter) close() {
	close(h.quit)
}
