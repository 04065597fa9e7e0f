// The IRC line format (RFC 1459 as IRCv3 extends it with message tags):
// parsing a client's line and writing the server's.

package daemon

import (
	"errors"
	"strings"
)

// ircMsg is one parsed IRC line.
type ircMsg struct {
	tags    map[string]string // client tags included; nil when none
	source  string            // the prefix without ':', "" when none
	command string            // upper-cased
	params  []string
}

// errIRCEmpty: a line with no command.
var errIRCEmpty = errors.New("empty IRC line")

// errIRCCommand: a command that is neither a word nor a three-digit
// numeric, such as the ":" of ": :".
var errIRCCommand = errors.New("malformed IRC command")

// ircCommandWord reports whether cmd is three digits or a word: a letter,
// then letters, digits or '_'. RFC 1459 says letters only, but clients
// send words such as NONEXISTENT_COMMAND and expect 421 for them, not
// silence.
func ircCommandWord(cmd string) bool {
	if len(cmd) == 3 && '0' <= cmd[0] && cmd[0] <= '9' {
		return '0' <= cmd[1] && cmd[1] <= '9' && '0' <= cmd[2] && cmd[2] <= '9'
	}
	for i := 0; i < len(cmd); i++ {
		c := cmd[i] | 0x20
		letter := 'a' <= c && c <= 'z'
		if i == 0 && !letter || i > 0 && !letter && cmd[i] != '_' && (cmd[i] < '0' || cmd[i] > '9') {
			return false
		}
	}
	return true
}

// ircMaxParams is how many parameters a line may carry (RFC 1459: 15).
const ircMaxParams = 15

// parseIRC parses one line without its line end. Tag values are unescaped;
// the command is upper-cased; a trailing parameter (after " :") keeps its
// spaces.
func parseIRC(line string) (ircMsg, error) {
	var m ircMsg
	line = strings.TrimLeft(line, " ")
	if strings.HasPrefix(line, "@") {
		end := strings.IndexByte(line, ' ')
		if end < 0 {
			return m, errIRCEmpty
		}
		m.tags = parseTags(line[1:end])
		line = strings.TrimLeft(line[end:], " ")
	}
	if strings.HasPrefix(line, ":") {
		end := strings.IndexByte(line, ' ')
		if end < 0 {
			return m, errIRCEmpty
		}
		m.source = line[1:end]
		line = strings.TrimLeft(line[end:], " ")
	}
	cmd, rest, _ := strings.Cut(line, " ")
	if cmd == "" {
		return m, errIRCEmpty
	}
	if !ircCommandWord(cmd) {
		return m, errIRCCommand
	}
	m.command = strings.ToUpper(cmd)
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			break
		}
		if rest[0] == ':' || len(m.params) == ircMaxParams-1 {
			m.params = append(m.params, strings.TrimPrefix(rest, ":"))
			break
		}
		var p string
		p, rest, _ = strings.Cut(rest, " ")
		m.params = append(m.params, p)
	}
	return m, nil
}

// parseTags reads "key=value;key2" (IRCv3 message-tags).
func parseTags(s string) map[string]string {
	tags := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		tags[k] = unescapeTag(v)
	}
	return tags
}

var tagEscaper = strings.NewReplacer(";", `\:`, " ", `\s`, `\`, `\\`, "\r", `\r`, "\n", `\n`)

// unescapeTag undoes the IRCv3 tag value escapes; an unknown escape
// stands for the character itself, a lone backslash at the end for
// nothing.
func unescapeTag(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i++; i == len(v) {
			break
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

func escapeTag(v string) string { return tagEscaper.Replace(v) }

// param is the i-th parameter, "" when there are fewer.
func (m *ircMsg) param(i int) string {
	if i < len(m.params) {
		return m.params[i]
	}
	return ""
}

// ircTag is one tag of a line the server writes.
type ircTag struct{ key, val string }

// appendTags writes tags as a line carries them after its '@':
// key=value pairs (escaped) separated by ';', a key alone when its value
// is empty.
func appendTags(b []byte, tags []ircTag) []byte {
	for i, t := range tags {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, t.key...)
		if t.val != "" {
			b = append(b, '=')
			b = append(b, escapeTag(t.val)...)
		}
	}
	return b
}

// appendIRC writes one server line: tags (none: no '@'), source, command,
// parameters (the last with ':' when it needs one), CRLF. Parameters never
// carry CR, LF or NUL: those are replaced by spaces.
func appendIRC(b []byte, tags []ircTag, source, command string, params ...string) []byte {
	if len(tags) > 0 {
		b = appendTags(append(b, '@'), tags)
		b = append(b, ' ')
	}
	if source != "" {
		b = append(b, ':')
		b = append(b, source...)
		b = append(b, ' ')
	}
	b = append(b, command...)
	for i, p := range params {
		b = append(b, ' ')
		if i == len(params)-1 && (p == "" || p[0] == ':' || strings.ContainsRune(p, ' ')) {
			b = append(b, ':')
		}
		for j := 0; j < len(p); j++ {
			c := p[j]
			if c == '\r' || c == '\n' || c == 0 {
				c = ' '
			}
			b = append(b, c)
		}
	}
	return append(b, '\r', '\n')
}
