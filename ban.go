package chatd

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxBan is the longest timed ban; anything longer should be permanent.
const MaxBan = 100 * 365 * 24 * time.Hour

// ParseBanDuration reads a ban length: a Go duration ("90m", "2h30m"), a
// number of days ("7d"), or "permanent"/"forever" (0). Lengths must be
// positive and at most MaxBan, so no ban can wrap around to the past.
func ParseBanDuration(w string) (time.Duration, error) {
	lw := strings.ToLower(strings.TrimSpace(w))
	if lw == "permanent" || lw == "forever" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(lw, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", w)
		}
		if n > int64(MaxBan/(24*time.Hour)) {
			return 0, fmt.Errorf("%q is longer than %d days; use permanent", w, MaxBan/(24*time.Hour))
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(lw)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration like 30m, 2h or 7d", w)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", w)
	}
	if d > MaxBan {
		return 0, fmt.Errorf("%q is longer than %d days; use permanent", w, MaxBan/(24*time.Hour))
	}
	return d, nil
}
