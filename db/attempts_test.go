package db

import (
	"context"
	"slices"
	"testing"
	"time"

	"chatd"
)

func TestAttempts(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		record := []struct {
			name, addr string
			at         time.Time
			success    bool
		}{
			// Out of time order on purpose: Attempts sorts by time.
			{"Alice", "10.0.0.2", t0.Add(2 * time.Second), true},
			{"alice", "10.0.0.1", t0, false},
			{"ALICE", "10.0.0.1", t0.Add(time.Second), false},
			{"alice", "10.0.0.1", t0.Add(-time.Second), false},
			{"ghost", "10.0.0.1", t0, false}, // not a registered name
			{"bob", "10.0.0.1", t0, true},
		}
		for _, r := range record {
			checkCode(t, db.RecordAttempt(ctx, r.name, r.addr, r.at, r.success), "")
		}
		type got struct {
			offset  time.Duration // from t0
			success bool
		}
		tests := []struct {
			name, user, addr string
			since            time.Time
			want             []got
		}{
			{"AnyAddress", "alice", "", t0, []got{{0, false}, {time.Second, false}, {2 * time.Second, true}}},
			{"OneAddress", "alice", "10.0.0.1", t0, []got{{0, false}, {time.Second, false}}},
			{"OtherCase", "ALICE", "10.0.0.2", time.Time{}, []got{{2 * time.Second, true}}},
			{"SinceIncludesBoundary", "alice", "", t0.Add(time.Second), []got{{time.Second, false}, {2 * time.Second, true}}},
			{"AllTime", "alice", "10.0.0.1", time.Time{}, []got{{-time.Second, false}, {0, false}, {time.Second, false}}},
			{"UnknownName", "ghost", "", time.Time{}, []got{{0, false}}},
			{"None", "nobody", "", time.Time{}, nil},
			{"UnknownAddress", "alice", "192.0.2.1", time.Time{}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				as, err := db.Attempts(ctx, tt.user, tt.addr, tt.since)
				checkCode(t, err, "")
				var gots []got
				for _, a := range as {
					if a.Time.Location() != time.UTC {
						t.Errorf("attempt time %v is not UTC", a.Time)
					}
					gots = append(gots, got{a.Time.Sub(t0), a.Success})
				}
				if !slices.Equal(gots, tt.want) {
					t.Errorf("Attempts = %v, want %v", gots, tt.want)
				}
			})
		}
	})
}

func TestRecordAttemptZeroTimeIsNow(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, clk := openTest(t)
		clk.Add(time.Minute)
		checkCode(t, db.RecordAttempt(ctx, "alice", "::1", time.Time{}, false), "")
		as, err := db.Attempts(ctx, "alice", "::1", time.Time{})
		if err != nil || len(as) != 1 || !as[0].Time.Equal(t0.Add(time.Minute)) {
			t.Errorf("Attempts = %+v, %v; want one at the clock's time", as, err)
		}
	})
}

// TestAttemptsFeedLockout runs the stored attempts through chatd.LockedUntil
// the way the daemon does.
func TestAttemptsFeedLockout(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		for i := range 3 {
			checkCode(t, db.RecordAttempt(ctx, "alice", "10.0.0.1", t0.Add(time.Duration(i)*time.Second), false), "")
		}
		as, err := db.Attempts(ctx, "Alice", "", t0.Add(-time.Hour))
		checkCode(t, err, "")
		until := chatd.LockedUntil(as, 3, time.Minute, t0.Add(3*time.Second))
		if want := t0.Add(2*time.Second + time.Minute); !until.Equal(want) {
			t.Errorf("LockedUntil = %v, want %v", until, want)
		}
	})
}

func TestPruneAttempts(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		d, _ := openTest(t)
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		for i := 0; i < 5; i++ {
			if err := d.RecordAttempt(ctx, "alice", "1.2.3.4", base.Add(time.Duration(i)*time.Hour), false); err != nil {
				t.Fatal(err)
			}
		}
		n, err := d.PruneAttempts(ctx, base.Add(2*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want 2", n, err)
		}
		left, err := d.Attempts(ctx, "alice", "", time.Time{})
		if err != nil || len(left) != 3 || !left[0].Time.Equal(base.Add(2*time.Hour)) {
			t.Fatalf("left %v, %v", left, err)
		}
	})
}
