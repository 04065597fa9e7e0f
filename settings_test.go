package chatd

import "testing"

func TestSettingsSet(t *testing.T) {
	tests := []struct {
		name, key, value, want string
		code                   Code
	}{
		{"OKTimestampsOn", "timestamps", "ON", "on", ""},
		{"OKTimestampsOff", "Timestamps", "off", "off", ""},
		{"OKTimezone", "timezone", "Europe/Paris", "Europe/Paris", ""},
		{"OKTimezoneUTC", "timezone", "utc", "UTC", ""},
		{"ErrTimestamps", "timestamps", "maybe", "", EBadArgs},
		{"ErrTimezone", "timezone", "Mars/Olympus", "", EBadArgs},
		{"ErrTimezoneLocal", "timezone", "Local", "", EBadArgs},
		{"ErrKey", "colour", "red", "", EBadArgs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSettings()
			got, err := s.Set(tt.key, tt.value)
			if ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) || got != tt.want {
				t.Fatalf("Set(%q, %q) = %q, %v", tt.key, tt.value, got, err)
			}
		})
	}
}

func TestParseSettingsIgnoresBadValues(t *testing.T) {
	s := ParseSettings(map[string]string{"timestamps": "on", "timezone": "Nowhere/Gone", "old": "x"})
	if !s.Timestamps || s.Timezone != "UTC" || s.Location == nil {
		t.Fatalf("%+v", s)
	}
	s = ParseSettings(map[string]string{"timezone": "Asia/Tokyo"})
	if s.Location.String() != "Asia/Tokyo" {
		t.Fatalf("%+v", s)
	}
}
