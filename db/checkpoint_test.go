package db

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"chatd"
)

// TestCheckpointerCopiesTheWAL: a line committed while the database is
// open reaches the database file through the checkpointer, long before
// the writer's own checkpoint (writerCheckpointPages) would run, and the
// writer keeps its checkpoint only as that backstop.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chatd.db")
	db := openAt(t, path)
	var pages int
	if err := db.writer.Get(&pages, `PRAGMA wal_autocheckpoint`); err != nil || pages != writerCheckpointPages {
		t.Fatalf("the writer's wal_autocheckpoint = %d, %v; want %d", pages, err, writerCheckpointPages)
	}
	marker := "checkpointed-" + t.Name()
	checkCode(t, db.AppendHistoryBatch(ctx, []chatd.RoomLine{{Room: chatd.Lobby, Line: chatd.HistoryLine{From: "ann", Text: marker}}}, 100), "")
	// A handful of pages, far below any automatic checkpoint: only the
	// checkpointer copies them into the file while it is open.
	for deadline := time.Now().Add(20 * time.Second); ; {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(marker)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the committed line is still only in the WAL (database file %d bytes)", len(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The line reads back as it was written.
	if h, err := db.History(ctx, chatd.Lobby, 10); err != nil || len(h) != 1 || h[0].Text != marker {
		t.Fatalf("History = %+v, %v", h, err)
	}
}
