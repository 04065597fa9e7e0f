package chatd

import (
	"testing"
	"time"
)

func TestParseBanDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"OKMinutes", "30m", 30 * time.Minute, true},
		{"OKCompound", "2h30m", 150 * time.Minute, true},
		{"OKDays", "7d", 7 * day, true},
		{"OKUpperCase", "7D", 7 * day, true},
		{"OKPermanent", "permanent", 0, true},
		{"OKForever", "Forever", 0, true},
		{"OKLongest", "36500d", MaxBan, true},
		{"ErrZero", "0s", 0, false},
		{"ErrNegative", "-5m", 0, false},
		{"ErrZeroDays", "0d", 0, false},
		{"ErrNoUnit", "30", 0, false},
		{"ErrWord", "soon", 0, false},
		{"ErrTooManyDays", "36501d", 0, false},
		{"ErrOverflowDays", "106752d", 0, false},
		{"ErrHugeDays", "9999999999999999999d", 0, false},
		{"ErrTooManyHours", "900000h", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBanDuration(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseBanDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}
