package chatd

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mentions (PROTOCOL.md section 10): a room line that names "@bob", where
// bob is a member of the room, marks bob. The line keeps the registered
// spellings of whom it marks (HistoryLine.Mentions); the store keeps, per
// user, which lines marked them, for the mentions command and the
// welcome's count.

// MentionsMax bounds the work one line costs: only its first MentionsMax
// distinct @words are looked up, so a line marks at most that many users.
const MentionsMax = 20

// mentionMaxBytes bounds one @word: no name is longer (the username
// pattern allows 16 characters by default), and a longer word is not
// looked up at all.
const mentionMaxBytes = 64

// A MentionWord is one @word of a line, as typed, and the same word
// without the punctuation that may close a sentence ("@bob." or "@bob-"):
// Trimmed is "" when there is none to take off. A name may end in such a
// character, so the whole word is tried first.
type MentionWord struct {
	Word, Trimmed string
}

// MentionWords finds the @words of text, in order, each once (by Key), at
// most MentionsMax. An @ counts only at the start of the text or after a
// character that cannot be part of a name, so "bob@example.com" names
// nobody; the word runs over letters, marks, digits and _ - . (the
// characters of the default username pattern, in any script).
func MentionWords(text string) []MentionWord {
	var out []MentionWord
	seen := map[string]bool{}
	prev := ' '
	for i := 0; i < len(text) && len(out) < MentionsMax; {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if r != '@' || mentionRune(prev) {
			prev = r
			continue
		}
		start := i
		for i < len(text) {
			r2, n := utf8.DecodeRuneInString(text[i:])
			if !mentionRune(r2) {
				break
			}
			i += n
		}
		word := text[start:i]
		prev = '@'
		if word != "" {
			prev, _ = utf8.DecodeLastRuneInString(word)
		}
		if strings.Trim(word, ".-_") == "" || len(word) > mentionMaxBytes || seen[Key(word)] {
			continue
		}
		seen[Key(word)] = true
		w := MentionWord{Word: word}
		if t := strings.TrimRight(word, ".-_"); t != word {
			w.Trimmed = t
		}
		out = append(out, w)
	}
	return out
}

// mentionRune reports whether r may be part of an @word.
func mentionRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || r == '_' || r == '-' || r == '.'
}

// Mention is one line that marked a user: a room line, with its room.
type Mention struct {
	Room string
	Line HistoryLine
}

// MentionStore keeps who is marked by which room line. The marks are
// written with the line (AppendHistoryBatch, from HistoryLine.Mentions)
// and go with it when the room's history is trimmed, the room closed or
// the user deleted.
type MentionStore interface {
	// MembersNamed returns those of names (as typed) that are members of
	// room, in their registered spellings, in no particular order. A room
	// that does not exist has none.
	MembersNamed(ctx context.Context, room string, names []string) ([]string, error)
	// Mentions returns up to n of the lines that marked user in the rooms
	// they are a member of, newest first (by message id); with before (a
	// message id), only those before it. more says whether there are
	// older ones. ENoSuchUser for an unknown user.
	Mentions(ctx context.Context, user, before string, n int) (lines []Mention, more bool, err error)
	// UnreadMentions counts the lines that marked user in their rooms
	// after their read marker of each room, at most UnreadCap.
	UnreadMentions(ctx context.Context, user string) (int, error)
}
