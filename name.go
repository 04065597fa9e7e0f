package chatd

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Key is the one canonical form of a user or room name: Unicode NFKC, then
// full Unicode case folding, then NFKC again (folding can undo a
// normalisation, and a key must be its own key). Names that differ only by
// case, width or compatibility form ("Kate", "KATE", "Ｋａｔｅ", "Kate" with
// a Kelvin sign) have the same key. The database stores it in a unique
// column, the hub indexes who is online by it, and every comparison of two
// names compares their keys; nothing else may fold names.
func Key(name string) string {
	if isASCII(name) {
		// NFKC leaves ASCII alone and folding ASCII is lower-casing.
		return strings.ToLower(name)
	}
	// A Caser keeps state: one per call, never shared.
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// badNameRune reports a character no name may contain, whatever
// accounts.username_pattern allows: spaces, controls, format characters
// (Cf: zero-width spaces and joiners, bidi controls, soft hyphens...),
// and what CleanText would remove. Two names that look the same must not be
// two accounts.
func badNameRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
		r == utf8.RuneError || IsControl(r)
}
