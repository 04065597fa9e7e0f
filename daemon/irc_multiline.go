package daemon

import (
	"context"
	"strings"

	"chatd"
)

// IRCv3 draft/multiline: a client sends one message as several lines,
// BATCH +ref draft/multiline #room, then PRIVMSGs (or NOTICEs) tagged
// batch=ref, then BATCH -ref. chatd keeps it as ONE room line (one id):
// its text is the lines joined by "\n", but a line tagged
// draft/multiline-concat is joined to the one before it without one.
// Telnet and SSH show the continuation lines indented, JSON clients get
// the "\n" in text, the web page breaks the lines. IRC clients with the
// capability get the batch as it was sent (the lines live; from
// history, split at each "\n"); those without it get one PRIVMSG per
// line that is not blank, the first with the message's msgid.
//
// Only channels take a batch as one line; to a nick each line goes as a
// private message of its own.

const (
	mlMaxBytes      = 4096 // the text of all the lines of a batch
	mlMaxLines      = 32
	ircMultilineCap = "max-bytes=4096,max-lines=32"
	mlBatchType     = "draft/multiline"
	mlConcat        = "draft/multiline-concat"
)

// mlPart is one line of a multiline batch: Concat joins it to the line
// before it without a line break.
type mlPart struct {
	Text   string `json:"x,omitempty"`
	Concat bool   `json:"c,omitempty"`
}

// mlBatch is a multiline batch a client has open.
type mlBatch struct {
	ref, target, command, label string
	tags                        map[string]string // the BATCH line's
	parts                       []mlPart
	bytes                       int
	failed                      bool // answered with FAIL: the rest is dropped
}

// mlFail answers a batch that cannot be sent with FAIL BATCH code.
func (s *session) mlFail(code string, params ...string) {
	s.ircLineOut(s.srv.serverName(), "FAIL", append([]string{"BATCH", code}, params...)...)
}

// ircBatch opens (BATCH +ref draft/multiline target) or sends (BATCH
// -ref) a multiline batch.
func ircBatch(ctx context.Context, s *session, m *ircMsg) {
	st := s.irc
	p := m.params[0]
	if ref, ok := strings.CutPrefix(p, "+"); ok {
		label := st.label
		// The batch is answered when it ends, with this label.
		st.label, s.label = "", ""
		if st.ml != nil {
			st.ml = nil
			s.mlFail("MULTILINE_INVALID", "a multiline batch is already open")
			return
		}
		if !st.has(capMultiline) || m.param(1) != mlBatchType || m.param(2) == "" || ref == "" {
			s.mlFail("MULTILINE_INVALID", "only draft/multiline batches to one target are taken")
			return
		}
		st.ml = &mlBatch{ref: ref, target: m.param(2), label: label, tags: clientOnlyTags(m.tags)}
		return
	}
	b := st.ml
	st.ml = nil
	if b == nil || p != "-"+b.ref {
		s.mlFail("MULTILINE_INVALID", "no such multiline batch is open")
		return
	}
	if b.failed {
		return
	}
	blank := true
	for _, pt := range b.parts {
		if pt.Concat && pt.Text == "" {
			s.mlFail("MULTILINE_INVALID", "a blank line cannot be concatenated")
			return
		}
		blank = blank && strings.TrimSpace(pt.Text) == ""
	}
	if blank {
		s.mlFail("MULTILINE_INVALID", "the multiline batch has no text")
		return
	}
	if b.label != "" {
		st.label, s.label = b.label, b.label
		st.collecting.Store(&b.label)
	}
	var text strings.Builder
	for i, pt := range b.parts {
		if i > 0 && !pt.Concat {
			text.WriteByte('\n')
		}
		text.WriteString(pt.Text)
	}
	if strings.HasPrefix(b.target, "#") {
		s.irc.lineParts = b.parts
		defer func() { s.irc.lineParts = nil }()
		ircPrivmsg(ctx, s, &ircMsg{tags: b.tags, command: b.command, params: []string{b.target, text.String()}})
		return
	}
	for _, l := range strings.Split(text.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			ircPrivmsg(ctx, s, &ircMsg{tags: b.tags, command: b.command, params: []string{b.target, l}})
		}
	}
}

// ircBatched takes a line tagged batch=ref into the open multiline batch
// and reports whether it did (a line of no open batch is answered with
// FAIL and dropped too).
func (s *session) ircBatched(_ context.Context, m *ircMsg) bool {
	ref, ok := m.tags["batch"]
	st := s.irc
	if !ok || (st.ml == nil && !st.has(capMultiline)) {
		return false
	}
	st.label, s.label = "", ""
	st.collecting.Store(nil)
	b := st.ml
	if b == nil || ref != b.ref {
		st.ml = nil
		s.mlFail("MULTILINE_INVALID", "the line names no open multiline batch")
		return true
	}
	if b.failed {
		return true
	}
	fail := func(code string, params ...string) {
		b.failed = true
		s.mlFail(code, params...)
	}
	if (m.command != "PRIVMSG" && m.command != "NOTICE") || len(m.params) < 2 ||
		chatd.Key(m.params[0]) != chatd.Key(b.target) || (b.command != "" && b.command != m.command) {
		fail("MULTILINE_INVALID", "a multiline batch holds PRIVMSGs or NOTICEs to its target")
		return true
	}
	b.command = m.command
	text := m.params[1]
	_, concat := m.tags[mlConcat]
	if len(b.parts) >= mlMaxLines {
		fail("MULTILINE_MAX_LINES", itoa(mlMaxLines), "too many lines in the multiline batch")
		return true
	}
	if b.bytes += len(text); b.bytes > mlMaxBytes {
		fail("MULTILINE_MAX_BYTES", itoa(mlMaxBytes), "too many bytes in the multiline batch")
		return true
	}
	b.parts = append(b.parts, mlPart{Text: chatd.CleanText(text), Concat: concat})
	return true
}

// appendMultiline renders a room line whose text has several lines: a
// draft/multiline batch for a client with the capability (tags, the
// message's, on its start) when batch allows (a live line, not one
// inside a history batch), else one line per line that is not blank,
// the first with the message's msgid.
func (s *session) appendMultiline(buf []byte, ev *event, tags []ircTag, batch bool, source, command, target, text string) []byte {
	parts := ev.parts
	if parts == nil {
		for _, l := range strings.Split(text, "\n") {
			parts = append(parts, mlPart{Text: l})
		}
	}
	st := s.irc
	if batch && st.has(capMultiline) && st.has(capBatch) {
		ref := "ml" + ev.id
		buf = appendIRC(buf, tags, source, "BATCH", "+"+ref, mlBatchType, target)
		for _, p := range parts {
			pt := []ircTag{{"batch", ref}}
			if p.Concat {
				pt = append(pt, ircTag{mlConcat, ""})
			}
			buf = appendIRC(buf, pt, source, command, target, p.Text)
		}
		return appendIRC(buf, nil, source, "BATCH", "-"+ref)
	}
	var rest []ircTag
	for _, t := range tags {
		if t.key != "msgid" {
			rest = append(rest, t)
		}
	}
	first := true
	for _, p := range parts {
		if p.Text == "" {
			continue
		}
		t := rest
		if first {
			t, first = tags, false
		}
		buf = appendIRC(buf, t, source, command, target, p.Text)
	}
	return buf
}

// oneBatch reports whether lines (CRLF-terminated) are one batch, from
// its start to its end.
func oneBatch(lines []byte) bool {
	all := strings.Split(strings.TrimSuffix(string(lines), "\r\n"), "\r\n")
	if len(all) < 2 {
		return false
	}
	first, err1 := parseIRC(all[0])
	last, err2 := parseIRC(all[len(all)-1])
	if err1 != nil || err2 != nil || first.command != "BATCH" || last.command != "BATCH" {
		return false
	}
	ref, ok := strings.CutPrefix(first.param(0), "+")
	return ok && last.param(0) == "-"+ref
}
