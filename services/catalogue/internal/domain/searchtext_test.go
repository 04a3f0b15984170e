package domain_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	w := func(s string) domain.QueryWord { return domain.QueryWord{Text: s} }
	tests := []struct {
		q    string
		want domain.ParsedQuery
	}{
		{q: "", want: domain.ParsedQuery{}},
		{q: "  !!! ... ", want: domain.ParsedQuery{}},
		{q: "coff", want: domain.ParsedQuery{Words: []domain.QueryWord{w("coff")}, Typing: true}},
		{q: "coffee ", want: domain.ParsedQuery{Words: []domain.QueryWord{w("coffee")}}},
		{q: "Green  TEA", want: domain.ParsedQuery{Words: []domain.QueryWord{w("green"), w("tea")}, Typing: true}},
		{q: "lamp -shade", want: domain.ParsedQuery{Words: []domain.QueryWord{w("lamp"), {Text: "shade", Negated: true}}}},
		{q: "yo-yo", want: domain.ParsedQuery{Words: []domain.QueryWord{w("yo")}, Typing: true}},
		{q: "a", want: domain.ParsedQuery{Words: []domain.QueryWord{w("a")}, Typing: true}},
		{q: "lamp, Lamp. LAMP", want: domain.ParsedQuery{Words: []domain.QueryWord{w("lamp")}, Typing: true}},
		{q: "Кофе в зёрнах", want: domain.ParsedQuery{Words: []domain.QueryWord{w("кофе"), w("в"), w("зёрнах")}, Typing: true}},
		{q: "茶", want: domain.ParsedQuery{Words: []domain.QueryWord{w("茶")}, Typing: true}}, //nolint:gosmopolitan // non-Latin text is the case
		{q: `"usb-c" (cable)`, want: domain.ParsedQuery{Words: []domain.QueryWord{w("usb"), w("c"), w("cable")}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, domain.ParseQuery(tt.q)); diff != "" {
			t.Errorf("ParseQuery(%q) (-want +got):\n%s", tt.q, diff)
		}
	}

	long := domain.ParseQuery(strings.Repeat("word ", 5) + strings.Repeat("x ", 3) + func() string {
		var b strings.Builder
		for i := range 40 {
			b.WriteString(string(rune('a'+i%26)) + string(rune('a'+i/26)) + " ")
		}
		return b.String()
	}())
	if len(long.Words) != domain.MaxQueryWords {
		t.Errorf("a long query keeps %d words, want %d", len(long.Words), domain.MaxQueryWords)
	}
}

func TestWithinTypos(t *testing.T) {
	t.Parallel()
	tests := []struct {
		word, candidate string
		prefix          bool
		want            bool
	}{
		{"cofee", "coffee", false, true},         // one insertion, 5 letters
		{"cofe", "coffee", false, false},         // two edits, 4 letters allow one
		{"cofe", "coffee", true, true},           // as a prefix: "coff" is one edit away
		{"headfones", "headphones", false, true}, // two edits, 9 letters
		{"sneekars", "sneakers", false, true},    // two substitutions, 8 letters
		{"hedfone", "headphones", false, false},  // 7 letters allow one
		{"mosue", "mouse", false, true},          // a swap is one typo
		{"mug", "mud", false, false},             // 3 letters allow none
		{"lamp", "lamp", false, true},
		{"kettel", "kettle", false, true},
		{"sneekers", "sneakers", false, true},
		{"snekaers", "sneakers", false, true}, // a swap and nothing else
		{"sneak", "sneakers", false, false},
		{"teapot", "toaster", false, false},
		{"кофн", "кофе", false, true},
		{"keybo", "keyboard", true, true},
		{"kexbo", "keyboard", true, true},
		{"kexbx", "keyboard", true, false},
	}
	for _, tt := range tests {
		if got := domain.WithinTypos(tt.word, tt.candidate, tt.prefix); got != tt.want {
			t.Errorf("WithinTypos(%q, %q, prefix %v) = %v, want %v", tt.word, tt.candidate, tt.prefix, got, tt.want)
		}
	}
}

func FuzzWithinTyposIsSymmetricForWholeWords(f *testing.F) {
	f.Add("coffee", "cofee")
	f.Add("кофе", "кофн")
	f.Fuzz(func(t *testing.T, a, b string) {
		if domain.MaxTypos(a) != domain.MaxTypos(b) {
			return
		}
		if domain.WithinTypos(a, b, false) != domain.WithinTypos(b, a, false) {
			t.Errorf("WithinTypos(%q, %q) is not symmetric", a, b)
		}
		if domain.MaxTypos(a) > 0 && !domain.WithinTypos(a, a, false) {
			t.Errorf("%q is not within typos of itself", a)
		}
	})
}
