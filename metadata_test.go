package chatd

import (
	"strings"
	"testing"
)

// TestValidMetaKey: the key names of draft/metadata-3 and nothing else.
func TestValidMetaKey(t *testing.T) {
	for key, want := range map[string]bool{
		"display-name": true, "avatar": true, "a/b.c_d-9": true,
		"": false, "Display-Name": false, "a b": false, "$url$": false, ":x": false,
		string(make([]byte, MaxMetadataKeyBytes+1)): false,
	} {
		if got := ValidMetaKey(key); got != want {
			t.Errorf("ValidMetaKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestCheckMetaValue(t *testing.T) {
	tests := []struct {
		name, value string
		want        Code
	}{
		{"OK", "Alice Liddell \u2665", ""},
		{"OKLongest", strings.Repeat("x", MaxMetadataValueBytes), ""},
		{"ErrEmpty", "", EBadArgs},
		{"ErrTooLong", strings.Repeat("x", MaxMetadataValueBytes+1), EBadArgs},
		{"ErrControl", "a\tb", EBadArgs},
		{"ErrBadEncoding", "a\xc3", EBadEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckMetaValue(tt.value)
			var got Code
			if err != nil {
				got = ErrorCode(err)
			}
			if got != tt.want {
				t.Fatalf("CheckMetaValue(%q) = %v, want %q", tt.value, err, tt.want)
			}
		})
	}
}
