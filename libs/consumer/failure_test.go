package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want failure
	}{
		{"handler error", errors.New("reservation locked"), handlerFailure},
		{"permanent", Permanent(errors.New("undecodable")), handlerFailure},
		{"permanent around a timeout", Permanent(context.DeadlineExceeded), handlerFailure},
		{"constraint violation", &pgconn.PgError{Code: "23514"}, handlerFailure},
		{"deadlock", fmt.Errorf("release: %w", &pgconn.PgError{Code: "40P01"}), handlerFailure},
		{"admin shutdown", fmt.Errorf("handle: %w", &pgconn.PgError{Code: "57P01"}), connectionFailure},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, connectionFailure},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, connectionFailure},
		{"too many connections", &pgconn.PgError{Code: "53300"}, connectionFailure},
		{"connection failure", &pgconn.PgError{Code: "08006"}, connectionFailure},
		{"connection does not exist", &pgconn.PgError{Code: "08003"}, connectionFailure},
		{"connect error", fmt.Errorf("begin tx: %w", &pgconn.ConnectError{}), connectionFailure},
		{"closed connection", fmt.Errorf("insert: %w", pgconn.ErrConnClosed), connectionFailure},
		{"deadline on acquire", fmt.Errorf("begin tx: %w", context.DeadlineExceeded), unclearFailure},
		{"refused dial", fmt.Errorf("call pricing: %w", refused), unclearFailure},
		{"dropped connection", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), unclearFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := classify(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestStartAfter(t *testing.T) {
	t.Parallel()
	pruned := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		history *prunedHistory
		created time.Time
		want    startPosition
	}{
		{"nothing pruned", nil, pruned, startPosition{policy: jetstream.DeliverAllPolicy}},
		{
			"after the highest pruned sequence",
			&prunedHistory{seq: 41, processedAt: pruned}, pruned.Add(-time.Hour),
			startPosition{policy: jetstream.DeliverByStartSequencePolicy, seq: 42},
		},
		{
			"a stream younger than the pruned rows holds none of them",
			&prunedHistory{seq: 41, processedAt: pruned}, pruned.Add(time.Hour),
			startPosition{policy: jetstream.DeliverAllPolicy},
		},
		{
			"only rows without a sequence pruned: by time",
			&prunedHistory{processedAt: pruned}, pruned.Add(-time.Hour),
			startPosition{policy: jetstream.DeliverByStartTimePolicy, time: pruned.Add(clockSkewMargin)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := startAfter(tt.history, tt.created); got != tt.want {
				t.Errorf("startAfter() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
