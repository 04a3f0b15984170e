package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/libs/jobs"
	"github.com/storefront-go/storefront/libs/testenv"
)

func TestDrain(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name       string
		batches    []int // items each successive call handles
		failAt     int   // call index that fails; -1 for none
		maxBatches int
		wantTotal  int
		wantCalls  int
		wantErr    error
	}{
		{name: "short first batch ends the pass", batches: []int{3}, failAt: -1, maxBatches: 5, wantTotal: 3, wantCalls: 1},
		{name: "full batches continue", batches: []int{10, 10, 4}, failAt: -1, maxBatches: 5, wantTotal: 24, wantCalls: 3},
		{name: "cap bounds the pass", batches: []int{10, 10, 10, 10}, failAt: -1, maxBatches: 2, wantTotal: 20, wantCalls: 2},
		{name: "error stops and keeps the count", batches: []int{10, 7}, failAt: 1, maxBatches: 5, wantTotal: 17, wantCalls: 2, wantErr: boom},
		{name: "nothing to do", batches: []int{0}, failAt: -1, maxBatches: 5, wantTotal: 0, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			total, err := jobs.Drain(t.Context(), 10, tt.maxBatches, func(_ context.Context, limit int) (int, error) {
				if limit != 10 {
					t.Errorf("limit = %d, want 10", limit)
				}
				i := calls
				calls++
				if i == tt.failAt {
					return tt.batches[i], boom
				}
				return tt.batches[i], nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff([]int{tt.wantTotal, tt.wantCalls}, []int{total, calls}); diff != "" {
				t.Errorf("(total, calls) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDrainStopsWhenContextDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := 0
	_, err := jobs.Drain(ctx, 10, 5, func(context.Context, int) (int, error) {
		calls++
		return 10, nil
	})
	if !errors.Is(err, context.Canceled) || calls != 0 {
		t.Fatalf("Drain on a done context: err %v after %d calls, want context.Canceled after 0", err, calls)
	}
}

func TestEveryRunsPassesAndLogsOutcomes(t *testing.T) {
	t.Parallel()
	var logs testenv.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	passes := make(chan int, 10)
	results := []struct {
		n   int
		err error
	}{{n: 2}, {err: errors.New("database down")}, {n: 0}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		i := 0
		jobs.Every(ctx, logger, "sweep things", time.Millisecond, true, func(context.Context) (int, error) {
			r := results[min(i, len(results)-1)]
			passes <- i
			i++
			if i == len(results) {
				cancel()
			}
			return r.n, r.err
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return after its context was cancelled")
	}
	if len(passes) != len(results) {
		t.Fatalf("ran %d passes, want %d", len(passes), len(results))
	}
	out := logs.String()
	for _, want := range []string{`level=INFO msg="sweep things" items=2`, `level=WARN msg="sweep things" error="database down"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") != 2 {
		t.Errorf("want exactly 2 log lines (an idle pass logs nothing), got:\n%s", out)
	}
}

func TestEveryWaitsForTheFirstTickUnlessNow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	jobs.Every(ctx, slog.New(slog.DiscardHandler), "idle", time.Hour, false, func(context.Context) (int, error) {
		ran = true
		return 0, nil
	})
	if ran {
		t.Fatal("a pass ran before the first tick")
	}
}
