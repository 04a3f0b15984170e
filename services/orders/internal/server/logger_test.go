package server_test

import (
	"io"
	"log/slog"
)

// newTestLogger writes JSON logs to w, which the harness prints when a
// test fails. t.Log can't be used: servers log while shutting down in
// cleanups, and NATS logs from its own goroutines.
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
