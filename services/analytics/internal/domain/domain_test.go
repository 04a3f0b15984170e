package domain_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func TestNewWindowWidensToWholeMinutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		start, end         time.Time
		wantStart, wantEnd time.Time
	}{
		{"aligned", t0, t0.Add(time.Hour), t0, t0.Add(time.Hour)},
		{"cuts minutes", t0.Add(30 * time.Second), t0.Add(90 * time.Second), t0, t0.Add(2 * time.Minute)},
		{"within one minute", t0.Add(time.Second), t0.Add(2 * time.Second), t0, t0.Add(time.Minute)},
		{"other zone", t0.In(time.FixedZone("X", 3600)), t0.Add(time.Minute), t0, t0.Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := domain.NewWindow(tt.start, tt.end)
			if err != nil {
				t.Fatal(err)
			}
			if !w.Start.Equal(tt.wantStart) || !w.End.Equal(tt.wantEnd) {
				t.Errorf("window [%s, %s), want [%s, %s)", w.Start, w.End, tt.wantStart, tt.wantEnd)
			}
		})
	}
	for _, bad := range [][2]time.Time{{t0, t0}, {t0.Add(time.Minute), t0}} {
		if _, err := domain.NewWindow(bad[0], bad[1]); !errors.Is(err, apperr.ErrInvalidArgument) {
			t.Errorf("window [%s, %s): %v, want INVALID_ARGUMENT", bad[0], bad[1], err)
		}
	}
}

// TestPiecesCoverEveryMinuteOnce checks, over random windows, that the
// pieces are aligned to their widths and hold every minute of the window
// exactly once.
func TestPiecesCoverEveryMinuteOnce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		start := t0.Add(time.Duration(rng.IntN(5*24*60)) * time.Minute)
		w, err := domain.NewWindow(start, start.Add(time.Duration(1+rng.IntN(3*24*60))*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[time.Time]int{}
		head, hours, tail := w.Pieces()
		for _, r := range []domain.Range{head, hours, tail} {
			if !r.Start.Equal(r.Start.Truncate(r.Width)) && !r.Empty() {
				t.Fatalf("window %v: piece %v not aligned to its width", w, r)
			}
			for b := r.Start; b.Before(r.End); b = b.Add(r.Width) {
				for m := b; m.Before(b.Add(r.Width)); m = m.Add(time.Minute) {
					seen[m]++
				}
			}
		}
		n := 0
		for m := w.Start; m.Before(w.End); m = m.Add(time.Minute) {
			n++
			if seen[m] != 1 {
				t.Fatalf("window [%s, %s): minute %s counted %d times", w.Start, w.End, m, seen[m])
			}
		}
		if len(seen) != n {
			t.Fatalf("window [%s, %s): pieces hold %d minutes, the window %d", w.Start, w.End, len(seen), n)
		}
	}
}

func TestAcceptance(t *testing.T) {
	t.Parallel()
	a := domain.Acceptance{Retention: 24 * time.Hour, Skew: 5 * time.Minute}
	tests := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"now", t0, true},
		{"within the skew", t0.Add(5 * time.Minute), true},
		{"beyond the skew", t0.Add(5*time.Minute + time.Second), false},
		{"inside the retention", t0.Add(-24*time.Hour + time.Second), true},
		{"at the retention", t0.Add(-24 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := a.Check(domain.Event{OccurredAt: tt.at}, t0, "event.occurred_at")
			if tt.ok != (err == nil) {
				t.Fatalf("Check = %v, want ok %t", err, tt.ok)
			}
			if err != nil {
				ae, _ := apperr.From(err)
				if ae.Kind != apperr.KindInvalidArgument || len(ae.FieldViolations) != 1 || ae.FieldViolations[0].Field != "event.occurred_at" {
					t.Errorf("error %+v does not name event.occurred_at as INVALID_ARGUMENT", ae)
				}
			}
		})
	}
}

func TestEventDeltasCountProductEventsPerMinute(t *testing.T) {
	t.Parallel()
	a := uuid.MustParse("00000000-0000-4000-8000-00000000000a")
	b := uuid.MustParse("00000000-0000-4000-8000-00000000000b")
	got := domain.EventDeltas([]domain.Event{
		{Name: domain.EventProductViewed, ProductID: b, OccurredAt: t0.Add(10 * time.Second)},
		{Name: domain.EventProductViewed, ProductID: a, OccurredAt: t0.Add(70 * time.Second)},
		{Name: domain.EventAddToCart, ProductID: a, OccurredAt: t0.Add(61 * time.Second)},
		{Name: domain.EventProductViewed, ProductID: a, OccurredAt: t0},
		{Name: "page_viewed", ProductID: a, OccurredAt: t0},
		{Name: domain.EventProductViewed, OccurredAt: t0}, // no product
	})
	want := []domain.Delta{
		{ProductID: a, Minute: t0, Counts: domain.Counts{Views: 1}},
		{ProductID: a, Minute: t0.Add(time.Minute), Counts: domain.Counts{Views: 1, AddToCarts: 1}},
		{ProductID: b, Minute: t0, Counts: domain.Counts{Views: 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
}

func TestOrderDeltas(t *testing.T) {
	t.Parallel()
	a := uuid.MustParse("00000000-0000-4000-8000-00000000000a")
	lines := []domain.OrderLine{
		{ProductID: a, Quantity: 2, Total: domain.Money{AmountMinor: 200, CurrencyCode: "EUR"}},
		{ProductID: a, Quantity: 1, Total: domain.Money{AmountMinor: 150, CurrencyCode: "EUR"}},
	}
	got := domain.OrderDeltas(lines, t0.Add(90*time.Second), -1)
	want := []domain.Delta{{ProductID: a, Minute: t0.Add(time.Minute),
		Counts: domain.Counts{Orders: -1, UnitsSold: -3}, Revenue: map[string]int64{"EUR": -350}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
}

func TestDedupeKeepsFirst(t *testing.T) {
	t.Parallel()
	id1, id2 := uuid.New(), uuid.New()
	got, dropped := domain.Dedupe([]domain.Event{{ID: id1, Name: "a"}, {ID: id2}, {ID: id1, Name: "b"}})
	if dropped != 1 || len(got) != 2 || got[0].Name != "a" {
		t.Errorf("Dedupe = %v, %d; want the first of id1 kept and one dropped", got, dropped)
	}
}
