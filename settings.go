package chatd

import (
	"sort"
	"strings"
	"time"
	// Timezone names work on any host, even one without a zoneinfo database.
	_ "time/tzdata"
)

// The settings a user can change with the set command.
const (
	SettingTimestamps = "timestamps" // "on" | "off": text mode live lines get HH:MM
	SettingTimezone   = "timezone"   // IANA name such as Europe/Paris; default UTC
	SettingIDs        = "ids"        // "on" | "off": text mode message lines end with [ID]
	SettingBot        = "bot"        // "on" | "off": the account is a bot (IRC bot mode)
)

// SettingKeys lists the setting keys in the order set lists them.
var SettingKeys = []string{SettingTimestamps, SettingTimezone, SettingIDs, SettingBot}

// Settings are one user's preferences, parsed.
type Settings struct {
	Timestamps bool
	IDs        bool           // show message ids in text mode
	Bot        bool           // the account is a bot, shown to IRC clients
	Timezone   string         // IANA name
	Location   *time.Location // Timezone loaded
}

// DefaultSettings is what a user who never ran set has.
func DefaultSettings() Settings {
	return Settings{Timezone: "UTC", Location: time.UTC}
}

// ParseSettings reads stored settings over the defaults. A stored value this
// build cannot read (a timezone removed from the database, say) is ignored,
// so it never keeps anyone from logging in.
func ParseSettings(stored map[string]string) Settings {
	s := DefaultSettings()
	keys := make([]string, 0, len(stored))
	for k := range stored {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_, _ = s.Set(k, stored[k])
	}
	return s
}

// Set changes one setting and returns the value to store, in its canonical
// spelling. Bad keys and values are EBadArgs errors that say what is
// allowed.
func (s *Settings) Set(key, value string) (string, error) {
	switch k := strings.ToLower(key); k {
	case SettingTimestamps, SettingIDs, SettingBot:
		flag := &s.Timestamps
		switch k {
		case SettingIDs:
			flag = &s.IDs
		case SettingBot:
			flag = &s.Bot
		}
		switch strings.ToLower(value) {
		case "on", "yes", "true":
			*flag = true
			return "on", nil
		case "off", "no", "false":
			*flag = false
			return "off", nil
		}
		return "", Errorf(EBadArgs, "%s is on or off, not %q", k, value)
	case SettingTimezone:
		loc, err := LoadTimezone(value)
		if err != nil {
			return "", err
		}
		s.Timezone, s.Location = loc.String(), loc
		return loc.String(), nil
	}
	return "", Errorf(EBadArgs, "there is no setting %q; the settings are %s", key, strings.Join(SettingKeys, ", "))
}

// Get returns the value of key as set shows it.
func (s *Settings) Get(key string) string {
	switch key {
	case SettingTimestamps:
		if s.Timestamps {
			return "on"
		}
		return "off"
	case SettingIDs:
		if s.IDs {
			return "on"
		}
		return "off"
	case SettingTimezone:
		return s.Timezone
	case SettingBot:
		if s.Bot {
			return "on"
		}
		return "off"
	}
	return ""
}

// LoadTimezone loads an IANA timezone name such as Europe/Paris, or UTC.
// "Local" (the server's zone, which a user cannot know) and empty names are
// refused.
func LoadTimezone(name string) (*time.Location, error) {
	if strings.EqualFold(name, "UTC") {
		return time.UTC, nil
	}
	if name == "" || strings.EqualFold(name, "Local") {
		return nil, Errorf(EBadArgs, "give a timezone name such as Europe/Paris, America/New_York or UTC")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, Errorf(EBadArgs, "%q is not a timezone name; write it as AREA/CITY, such as Europe/Paris, or UTC", name)
	}
	return loc, nil
}
