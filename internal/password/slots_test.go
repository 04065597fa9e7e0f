package password

import "testing"

// A login storm must leave a P free of hashing for the chat: the gate runs
// no more hashes than fit beside it, never fewer than one, never more than
// argon2.max_concurrent.
func TestHashSlotsLeaveAPFree(t *testing.T) {
	tests := []struct {
		maxConcurrent, parallelism, procs, want int
	}{
		{4, 2, 3, 1},  // chatd's defaults on 2 CPUs, GOMAXPROCS raised to 3
		{4, 2, 2, 1},  // GOMAXPROCS pinned by the operator: still one hash
		{4, 1, 2, 1},  // one lane each: one P hashes, one chats
		{4, 1, 3, 2},  //
		{4, 2, 9, 4},  // a big machine: max_concurrent decides
		{4, 1, 64, 4}, //
		{1, 4, 2, 1},  // more lanes than Ps: one hash anyway
		{3, 2, 8, 3},  // (8-1)/2 = 3
		{8, 2, 8, 3},  //
		{4, 0, 4, 3},  // parallelism 0 is refused by Validate; no panic here
	}
	for _, tt := range tests {
		if got := hashSlots(tt.maxConcurrent, tt.parallelism, tt.procs); got != tt.want {
			t.Errorf("hashSlots(max_concurrent %d, parallelism %d, %d Ps) = %d, want %d",
				tt.maxConcurrent, tt.parallelism, tt.procs, got, tt.want)
		}
	}
}
