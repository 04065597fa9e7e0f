package daemon

import (
	"context"
	"log/slog"

	"chatd"
)

// historyWriter stores room chat for replay on join. It owns the writes so
// that chat fan-out never waits for the disk: lines are queued (bounded; a
// full queue makes senders wait, not lose lines) and written in order.
type historyWriter struct {
	store chatd.Store
	keep  int
	log   *slog.Logger
	ch    chan historyItem
	done  chan struct{}
}

type historyItem struct {
	room string
	line chatd.HistoryLine
}

func newHistoryWriter(store chatd.Store, keep int, log *slog.Logger) *historyWriter {
	h := &historyWriter{store: store, keep: keep, log: log, ch: make(chan historyItem, 4096), done: make(chan struct{})}
	go h.run()
	return h
}

func (h *historyWriter) add(room string, l chatd.HistoryLine) {
	if h.keep > 0 {
		h.ch <- historyItem{room, l}
	}
}

func (h *historyWriter) run() {
	defer close(h.done)
	for it := range h.ch {
		err := h.store.AppendHistory(context.Background(), it.room, it.line, h.keep)
		if err != nil && chatd.ErrorCode(err) != chatd.ENoSuchRoom { // closed meanwhile
			h.log.Error("store room history", "room", it.room, "err", err)
		}
	}
}

// close writes what is queued and stops. No add may follow.
func (h *historyWriter) close() {
	close(h.ch)
	<-h.done
}
