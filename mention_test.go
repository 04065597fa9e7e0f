package chatd_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"chatd"
)

func TestMentionWords(t *testing.T) {
	many := make([]string, chatd.MentionsMax+3)
	for i := range many {
		many[i] = fmt.Sprintf("@u%d", i)
	}
	for _, tc := range []struct {
		name, text string
		want       []string // Word, or Word/Trimmed
	}{
		{"OK", "hi @bob", []string{"bob"}},
		{"Start", "@bob hi", []string{"bob"}},
		{"Several", "@carol and @bob", []string{"carol", "bob"}},
		{"Punctuation", "@bob, @carol: (@dave) @eve's", []string{"bob", "carol", "dave", "eve"}},
		{"SentenceEnd", "ask @bob. or @carol-", []string{"bob./bob", "carol-/carol"}},
		{"NameChars", "@a_b-c.d", []string{"a_b-c.d"}},
		{"Unicode", "grüß @Jürgen!", []string{"Jürgen"}},
		{"Twice", "@bob @BOB @Bob.", []string{"bob", "Bob./Bob"}},
		{"Address", "mail bob@example.com", nil},
		{"Bare", "@ @@ @. @-_ x@", nil},
		{"Double", "@@bob", []string{"bob"}},
		{"TooLong", "@" + strings.Repeat("x", 65), nil},
		{"Bounded", strings.Join(many, " "), func() []string {
			var w []string
			for _, m := range many[:chatd.MentionsMax] {
				w = append(w, m[1:])
			}
			return w
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, w := range chatd.MentionWords(tc.text) {
				s := w.Word
				if w.Trimmed != "" {
					s += "/" + w.Trimmed
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("MentionWords(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}
