package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Search text rules. A query is split into words of letters, digits and
// marks; everything else separates words. A word written right after a
// minus sign at the start of a word ("-shade") excludes products with it.
const (
	// MaxQueryWords bounds the words a query is searched for; later words
	// are ignored, so the work a query costs is bounded too.
	MaxQueryWords = 16
	// oneTypoFrom and twoTyposFrom are the usual typo tolerance: words of
	// 4 or more letters may have one typo, of 8 or more two.
	oneTypoFrom  = 4
	twoTyposFrom = 8
)

// QueryWord is one lower-cased word of a search query.
type QueryWord struct {
	Text    string
	Negated bool
}

// ParsedQuery is a search query split into words.
type ParsedQuery struct {
	Words []QueryWord
	// Typing is true when the query ends inside its last word, which is
	// then matched as a prefix too (the shopper may not have finished it).
	Typing bool
}

// Positive reports whether the query has a word to match, as opposed to
// only exclusions or nothing at all.
func (q ParsedQuery) Positive() bool {
	for _, w := range q.Words {
		if !w.Negated {
			return true
		}
	}
	return false
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// ParseQuery splits a query into at most MaxQueryWords distinct words.
func ParseQuery(q string) ParsedQuery {
	var out ParsedQuery
	seen := map[QueryWord]bool{}
	negate, atStart := false, true
	endsInWord := false
	for len(q) > 0 {
		r, size := utf8.DecodeRuneInString(q)
		if !isWordRune(r) {
			negate = r == '-' && atStart
			atStart = unicode.IsSpace(r)
			endsInWord = false
			q = q[size:]
			continue
		}
		end := strings.IndexFunc(q, func(r rune) bool { return !isWordRune(r) })
		if end < 0 {
			end = len(q)
		}
		w := QueryWord{Text: strings.ToLower(q[:end]), Negated: negate}
		q = q[end:]
		negate, atStart, endsInWord = false, false, true
		if seen[w] {
			continue
		}
		if len(out.Words) == MaxQueryWords {
			endsInWord = false
			break
		}
		seen[w] = true
		out.Words = append(out.Words, w)
	}
	if n := len(out.Words); n > 0 && endsInWord {
		last := out.Words[n-1]
		out.Typing = !last.Negated
	}
	return out
}

// MaxTypos is how many typos a word of this length may have.
func MaxTypos(word string) int {
	switch n := utf8.RuneCountInString(word); {
	case n >= twoTyposFrom:
		return 2
	case n >= oneTypoFrom:
		return 1
	}
	return 0
}

// WithinTypos reports whether candidate is a spelling of word allowing its
// typos: insertions, deletions, substitutions and swaps of neighbours. With
// prefix, candidate only has to start with such a spelling.
func WithinTypos(word, candidate string, prefix bool) bool {
	limit := MaxTypos(word)
	if limit == 0 {
		return false
	}
	w, c := []rune(word), []rune(candidate)
	if !prefix {
		return editDistance(w, c, limit) <= limit
	}
	for n := len(w) - limit; n <= len(w)+limit && n <= len(c); n++ {
		if n > 0 && editDistance(w, c[:n], limit) <= limit {
			return true
		}
	}
	return false
}

// editDistance is the optimal string alignment distance between a and b,
// or limit+1 once it is known to exceed limit.
func editDistance(a, b []rune, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	// Three rows: the one before the previous is needed for swaps.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
			best = min(best, d)
		}
		if best > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
