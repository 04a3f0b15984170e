package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/libs/testenv"
)

// recordingTB holds the cleanups of the code under test until runCleanups
// and records what they report, so a test can check what would have
// failed its caller without failing itself.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	errors   []string
	logs     []string
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errors) > 0
}

func (r *recordingTB) runCleanups() {
	for _, v := range slices.Backward(r.cleanups) {
		v()
	}
}

// fakeHost stands in for a service host.
type fakeHost struct {
	logger   *slog.Logger
	listened bool
	exit     chan error // Run returns what it receives
	onCancel error      // Run returns this when its context ends
}

func (f *fakeHost) Listen() error {
	f.listened = true
	return nil
}

func (f *fakeHost) Run(ctx context.Context) error {
	f.logger.DebugContext(ctx, "fake running")
	select {
	case <-ctx.Done():
		return f.onCancel
	case err := <-f.exit:
		return err
	}
}

func startFake(tb testing.TB, onCancel error) *testenv.Replica[*fakeHost] {
	tb.Helper()
	return testenv.StartReplica(tb, "fake", func(_ context.Context, logger *slog.Logger) (*fakeHost, error) {
		return &fakeHost{logger: logger, exit: make(chan error, 1), onCancel: onCancel}, nil
	})
}

func TestReplicaRunErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name         string
		runErr       error
		stop         bool
		wantStop     error
		wantReported []string // what the cleanups report
	}{
		{name: "clean run", runErr: nil},
		{name: "clean stop", runErr: nil, stop: true},
		{name: "error Stop returned is the test's to report", runErr: boom, stop: true, wantStop: boom},
		{name: "error nobody asked for fails the test", runErr: boom, wantReported: []string{"fake run: boom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recordingTB{TB: t}
			r := startFake(rec, tt.runErr)
			if !r.Host().listened {
				t.Error("the replica was not listening before it ran")
			}
			if tt.stop {
				if err := r.Stop(); !errors.Is(err, tt.wantStop) {
					t.Errorf("Stop = %v, want %v", err, tt.wantStop)
				}
			}
			rec.runCleanups()
			if diff := cmp.Diff(tt.wantReported, rec.errors); diff != "" {
				t.Errorf("reported by the cleanups (-want +got):\n%s", diff)
			}
			// A failed test gets the replica's logs, debug level included.
			dumped := len(rec.logs) == 1 && strings.Contains(rec.logs[0], "fake running")
			if dumped != (len(tt.wantReported) > 0) {
				t.Errorf("logs reported = %q; want them exactly when the test failed", rec.logs)
			}
		})
	}
}

// A replica whose Run ends on its own closes Done, and Stop then returns
// Run's error at once.
func TestReplicaDoneWhenRunEnds(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := startFake(t, nil)
	r.Host().exit <- boom
	select {
	case <-r.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Done not closed after Run returned")
	}
	if err := r.Stop(); !errors.Is(err, boom) {
		t.Errorf("Stop = %v, want %v", err, boom)
	}
	if !strings.Contains(r.Logs().String(), "fake running") {
		t.Errorf("logs = %q, want the replica's own", r.Logs().String())
	}
}
