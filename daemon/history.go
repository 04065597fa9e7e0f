package daemon

import (
	"context"
	"log/slog"

	"chatd"
)

// historyWriter stores room chat for replay on join. It owns the writes so
// that chat fan-out never waits for the disk: lines are queued (bounded; a
// full queue makes senders wait, not lose lines) and written in order, all
// that is queued at a wake-up in one transaction.
type historyWriter struct {
	store chatd.Store
	keep  int
	log   *slog.Logger
	ch    chan chatd.RoomLine
	done  chan struct{}
}

// historyBatch caps the lines written in one transaction.
const historyBatch = 512

func newHistoryWriter(store chatd.Store, keep int, log *slog.Logger) *historyWriter {
	h := &historyWriter{store: store, keep: keep, log: log, ch: make(chan chatd.RoomLine, 4096), done: make(chan struct{})}
	go h.run()
	return h
}

func (h *historyWriter) add(room string, l chatd.HistoryLine) {
	if h.keep > 0 {
		h.ch <- chatd.RoomLine{Room: room, Line: l}
	}
}

func (h *historyWriter) run() {
	defer close(h.done)
	batch := make([]chatd.RoomLine, 0, historyBatch)
	for first := range h.ch {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < historyBatch {
			select {
			case l, ok := <-h.ch:
				if !ok {
					break drain
				}
				batch = append(batch, l)
			default:
				break drain
			}
		}
		if err := h.store.AppendHistoryBatch(context.Background(), batch, h.keep); err != nil {
			h.log.Error("store room history", "lines", len(batch), "err", err)
		}
	}
}

// close writes what is queued and stops. No add may follow.
func (h *historyWriter) close() {
	close(h.ch)
	<-h.done
}
