package load_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storefront-go/storefront/tools/internal/load"
)

func TestClosedMakesExactlyNCallsWithUniqueSeqs(t *testing.T) {
	seen := make([]atomic.Int32, 500)
	res := load.Closed(t.Context(), 8, len(seen), time.Minute, time.Second, func(_ context.Context, seq int64) error {
		seen[seq].Add(1)
		return nil
	})
	if res.Calls() != len(seen) || res.Err() != nil {
		t.Fatalf("made %d calls (err %v), want %d without errors", res.Calls(), res.Err(), len(seen))
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("seq %d called %d times, want once", i, n)
		}
	}
}

func TestClosedStopsAtMaxTime(t *testing.T) {
	res := load.Closed(t.Context(), 2, 1_000_000, 50*time.Millisecond, time.Second, func(ctx context.Context, _ int64) error {
		<-time.After(time.Millisecond)
		return ctx.Err()
	})
	if res.Calls() == 0 || res.Calls() >= 1_000_000 {
		t.Fatalf("made %d calls, want some but far fewer than asked", res.Calls())
	}
}

func TestClosedCountsErrorsAndKeepsTheFirst(t *testing.T) {
	boom := errors.New("boom")
	res := load.Closed(t.Context(), 1, 10, time.Minute, time.Second, func(_ context.Context, seq int64) error {
		if seq%2 == 1 {
			return boom
		}
		return nil
	})
	if res.Errors != 5 || !errors.Is(res.Err(), boom) {
		t.Fatalf("errors = %d, err = %v; want 5 wrapping boom", res.Errors, res.Err())
	}
}

func TestOpenKeepsTheRateAndTimesFromTheSchedule(t *testing.T) {
	// 200/s for 250 ms is 50 calls; each takes 20 ms, so with one caller
	// they would take a second: the open loop must not wait for answers.
	var inFlight, most atomic.Int64
	res := load.Open(t.Context(), 200, 250*time.Millisecond, 100, time.Second, func(ctx context.Context, _ int64) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m; m = most.Load() {
			if most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-time.After(20 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if res.Calls() != 50 || res.Err() != nil {
		t.Fatalf("made %d calls (err %v), want 50", res.Calls(), res.Err())
	}
	if most.Load() < 2 {
		t.Fatalf("at most %d call in flight: calls waited for each other", most.Load())
	}
	if res.Percentile(50) < 20*time.Millisecond {
		t.Fatalf("p50 %s is below the call's own 20 ms", res.Percentile(50))
	}
}

func TestOpenDropsBeyondMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	var res load.Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = load.Open(t.Context(), 1000, 50*time.Millisecond, 3, 5*time.Second, func(ctx context.Context, _ int64) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	time.Sleep(100 * time.Millisecond)
	close(release)
	<-done
	if res.Calls()+res.Dropped != 50 || res.Calls() < 3 || res.Dropped == 0 || res.Err() == nil {
		t.Fatalf("calls %d, dropped %d, err %v; want 50 in all, at least 3 made, some dropped and an error", res.Calls(), res.Dropped, res.Err())
	}
}

func TestPercentileNearestRank(t *testing.T) {
	res := load.Result{}
	for i := 1; i <= 100; i++ {
		res.Latencies = append(res.Latencies, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0.1: time.Millisecond} {
		if got := res.Percentile(p); got != want {
			t.Errorf("p%v = %s, want %s", p, got, want)
		}
	}
	if (load.Result{}).Percentile(99) != 0 {
		t.Error("percentile of no calls is not 0")
	}
}
