package chatd

import (
	"testing"
	"time"
)

func TestLockedUntil(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	fail := func(sec int) LoginAttempt { return LoginAttempt{Time: at(sec)} }
	ok := func(sec int) LoginAttempt { return LoginAttempt{Time: at(sec), Success: true} }
	const d = time.Minute

	tests := []struct {
		name     string
		attempts []LoginAttempt
		max      int
		now      time.Time
		want     time.Time // zero: not locked
	}{
		{name: "NoAttempts", max: 3, now: at(0)},
		{name: "BelowMax", attempts: []LoginAttempt{fail(0), fail(1)}, max: 3, now: at(2)},
		{name: "ReachesMax", attempts: []LoginAttempt{fail(0), fail(1), fail(2)}, max: 3, now: at(3), want: at(62)},
		{name: "MaxOne", attempts: []LoginAttempt{fail(5)}, max: 1, now: at(6), want: at(65)},
		{name: "MaxZeroDisables", attempts: []LoginAttempt{fail(0), fail(1), fail(2)}, max: 0, now: at(3)},
		{name: "MaxNegativeDisables", attempts: []LoginAttempt{fail(0)}, max: -1, now: at(1)},
		{name: "JustBeforeLockEnds", attempts: []LoginAttempt{fail(0), fail(1), fail(2)}, max: 3, now: at(62).Add(-time.Millisecond), want: at(62)},
		{name: "LockEndsAtItsEnd", attempts: []LoginAttempt{fail(0), fail(1), fail(2)}, max: 3, now: at(62)},
		{name: "LockLongOver", attempts: []LoginAttempt{fail(0), fail(1), fail(2)}, max: 3, now: at(3600)},
		{name: "SuccessResets", attempts: []LoginAttempt{fail(0), fail(1), ok(2), fail(3), fail(4)}, max: 3, now: at(5)},
		{name: "FailuresAfterSuccessLock", attempts: []LoginAttempt{fail(0), fail(1), ok(2), fail(3), fail(4), fail(5)}, max: 3, now: at(6), want: at(65)},
		{
			// Tries while locked neither extend the lock nor count later.
			name:     "TriesDuringLockIgnored",
			attempts: []LoginAttempt{fail(0), fail(1), fail(2), fail(10), fail(20), fail(30)},
			max:      3, now: at(40), want: at(62),
		},
		{
			name:     "CountRestartsAfterLock",
			attempts: []LoginAttempt{fail(0), fail(1), fail(2), fail(30), fail(40), fail(70), fail(71)},
			max:      3, now: at(72),
		},
		{
			name:     "SecondLock",
			attempts: []LoginAttempt{fail(0), fail(1), fail(2), fail(70), fail(71), fail(72)},
			max:      3, now: at(73), want: at(132),
		},
		{
			// The lock is over at its end, so a try made exactly then counts.
			name:     "TryAtLockEndCounts",
			attempts: []LoginAttempt{fail(0), fail(1), fail(2), fail(62), fail(63), fail(64)},
			max:      3, now: at(65), want: at(124),
		},
		{
			name:     "SuccessAfterLockResets",
			attempts: []LoginAttempt{fail(0), fail(1), fail(2), ok(70), fail(71), fail(72)},
			max:      3, now: at(73),
		},
		{
			// The clock went back: now is before the attempts, but still
			// before the lock's end, so the lock holds.
			name:     "ClockWentBack",
			attempts: []LoginAttempt{fail(0), fail(1), fail(2)},
			max:      3, now: at(-10), want: at(62),
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LockedUntil(tt.attempts, tt.max, d, tt.now)
			if !got.Equal(tt.want) {
				t.Errorf("LockedUntil = %v, want %v", got, tt.want)
			}
		})
	}
}
