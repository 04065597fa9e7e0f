package daemon

import (
	"slices"
	"strings"
	"testing"
)

func TestParseIRC(t *testing.T) {
	tests := []struct {
		name, line, cmd string
		params          []string
		tags            map[string]string
		source          string
	}{
		{"OK", "PRIVMSG #den :hello there", "PRIVMSG", []string{"#den", "hello there"}, nil, ""},
		{"Lowercase", "join #a,#b key", "JOIN", []string{"#a,#b", "key"}, nil, ""},
		{"Source", ":nick!u@h NICK other", "NICK", []string{"other"}, nil, "nick!u@h"},
		{"Tags", `@label=a\sb\:c;+draft/x PING :t`, "PING", []string{"t"}, map[string]string{"label": "a b;c", "+draft/x": ""}, ""},
		{"Underscore", "nonexistent_command2 x", "NONEXISTENT_COMMAND2", []string{"x"}, nil, ""},
		{"EmptyTrailing", "TOPIC #den :", "TOPIC", []string{"#den", ""}, nil, ""},
		{"Spaces", "USER  u   0 * :Real  Name ", "USER", []string{"u", "0", "*", "Real  Name "}, nil, ""},
		{"Fifteen", "X 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", "X",
			[]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15 16"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseIRC(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if m.command != tt.cmd || !slices.Equal(m.params, tt.params) || m.source != tt.source {
				t.Errorf("parseIRC(%q) = %q %q %q", tt.line, m.source, m.command, m.params)
			}
			for k, v := range tt.tags {
				if m.tags[k] != v {
					t.Errorf("tag %s = %q, want %q", k, m.tags[k], v)
				}
			}
		})
	}
	for _, bad := range []string{"", "   ", "@tags", ":src", "@a=b :src", ": :", "PRIV/MSG x", "12 x", "1234", "NICK: x", "_X y", "9AB y"} {
		if _, err := parseIRC(bad); err == nil {
			t.Errorf("parseIRC(%q) accepted", bad)
		}
	}
}

// FuzzIRCLine: any line parses without a panic, and what appendIRC writes
// from a parsed line parses back to the same command and parameters.
func FuzzIRCLine(f *testing.F) {
	for _, s := range []string{
		"PRIVMSG #den :hello", "@label=x;time=2020 :a!b@c PRIVMSG bob :hi :)", "CAP REQ :sasl -echo-message",
		`@a=\\\:\s\r\n\x;b :s C p1 p2 :`, "AUTHENTICATE +", ":", "@", " : x", "X a  b   :  c", ": :",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := parseIRC(line)
		if err != nil {
			return
		}
		if strings.ContainsAny(line, "\r\n\x00") {
			return
		}
		var tags []ircTag
		for k, v := range m.tags {
			if k != "" && !strings.ContainsAny(k, "= ;") {
				tags = append(tags, ircTag{k, v})
			}
		}
		out := appendIRC(nil, tags, m.source, m.command, m.params...)
		back, err := parseIRC(strings.TrimSuffix(string(out), "\r\n"))
		if err != nil {
			t.Fatalf("%q: written as %q, which does not parse: %v", line, out, err)
		}
		if back.command != m.command || !slices.Equal(back.params, m.params) {
			t.Fatalf("%q: written as %q, read back as %q %q, was %q %q", line, out, back.command, back.params, m.command, m.params)
		}
		for _, tg := range tags {
			if back.tags[tg.key] != tg.val {
				t.Fatalf("%q: tag %q read back as %q, was %q", line, tg.key, back.tags[tg.key], tg.val)
			}
		}
	})
}
