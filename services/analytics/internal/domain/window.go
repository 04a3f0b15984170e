package domain

import (
	"time"

	"github.com/storefront-go/storefront/libs/apperr"
)

// The counters are kept per minute and per hour: every change is added to
// its minute and to its hour, so a long window reads hours and only its
// ragged ends read minutes.

// Window is a half-open time range [Start, End) on whole minutes: the
// resolution of the counters. A requested window is widened to it, so a
// window that cuts through a minute counts that whole minute, and windows
// on minute boundaries are exact.
type Window struct {
	Start, End time.Time
}

// NewWindow widens [start, end) to whole minutes: start rounds down, end
// rounds up. start must be before end.
func NewWindow(start, end time.Time) (Window, error) {
	if !start.Before(end) {
		return Window{}, apperr.Invalid("start_time", "must be before end_time")
	}
	s := start.UTC().Truncate(time.Minute)
	e := end.UTC().Truncate(time.Minute)
	if e.Before(end) {
		e = e.Add(time.Minute)
	}
	return Window{Start: s, End: e}, nil
}

// Range is a half-open range of buckets of one width.
type Range struct {
	Width      time.Duration
	Start, End time.Time
}

// Empty reports whether r holds no bucket.
func (r Range) Empty() bool { return !r.Start.Before(r.End) }

// Pieces splits w into the fewest buckets: the whole hours inside it, and
// the minutes before and after them. Every minute of w is in exactly one
// piece. Pieces that hold nothing are empty ranges.
func (w Window) Pieces() (head, hours, tail Range) {
	hs := w.Start.Truncate(time.Hour)
	if hs.Before(w.Start) {
		hs = hs.Add(time.Hour)
	}
	he := w.End.Truncate(time.Hour)
	if !hs.Before(he) {
		return Range{time.Minute, w.Start, w.End}, Range{time.Hour, w.End, w.End}, Range{time.Minute, w.End, w.End}
	}
	return Range{time.Minute, w.Start, hs}, Range{time.Hour, hs, he}, Range{time.Minute, he, w.End}
}
