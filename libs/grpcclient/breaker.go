package grpcclient

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/sony/gobreaker/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// breaker guards one ClientConn. It is a two-step breaker so that unary calls
// and stream opens share one state machine.
type breaker struct {
	name    string
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	metrics *metrics
}

func newBreaker(cfg Config, logger *slog.Logger, m *metrics) *breaker {
	b := &breaker{name: cfg.Name, metrics: m}
	minRequests, ratio := cfg.BreakerMinRequests, cfg.BreakerFailureRatio
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        cfg.Name,
		MaxRequests: cfg.BreakerHalfOpenRequests,
		Interval:    cfg.BreakerInterval,
		Timeout:     cfg.BreakerOpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return readyToTrip(c, minRequests, ratio)
		},
		IsSuccessful: isSuccessful,
		OnStateChange: func(name string, from, to gobreaker.State) {
			logger.Info("circuit breaker state changed",
				slog.String("breaker", name),
				slog.String("from", from.String()),
				slog.String("to", to.String()))
			m.setState(name, to)
		},
	})
	m.setState(cfg.Name, gobreaker.StateClosed)
	return b
}

// readyToTrip opens the breaker once enough calls have completed and more
// than ratio of them failed, so a single early failure cannot trip it. Calls
// still in flight are left out: they would dilute the ratio under load.
func readyToTrip(c gobreaker.Counts, minRequests uint32, ratio float64) bool {
	completed := c.TotalSuccesses + c.TotalFailures
	return completed > 0 && completed >= minRequests && float64(c.TotalFailures)/float64(completed) > ratio
}

// isSuccessful counts only errors that point at an unhealthy peer as
// failures. Everything else, such as INVALID_ARGUMENT, NOT_FOUND or a caller
// cancelling, is a healthy peer answering.
func isSuccessful(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return false
	default:
		return true
	}
}

// BreakerOpen is the message suffix of a call the breaker rejected.
const BreakerOpen = "circuit breaker open"

// IsBreakerOpen reports whether err is a rejection by an open (or half-open
// and busy) breaker: the call never reached the peer.
func IsBreakerOpen(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unavailable && strings.HasSuffix(st.Message(), ": "+BreakerOpen)
}

// BreakerState shows one connection's breaker (see WithBreakerState).
type BreakerState struct {
	br atomic.Pointer[breaker]
}

// Open reports whether the breaker is open, so that calls fail at once
// without reaching the peer. It is false before Dial, while closed, and
// once the open timeout has passed (half-open: a probe may go through).
func (s *BreakerState) Open() bool {
	b := s.br.Load()
	return b != nil && b.cb.State() == gobreaker.StateOpen
}

// allow admits a call, or returns the UNAVAILABLE error for a rejected one.
// done must be called with the call's outcome and its context.
func (b *breaker) allow() (done func(ctx context.Context, err error), rejected error) {
	report, err := b.cb.Allow()
	if err != nil {
		b.metrics.countRejected(b.name)
		return nil, status.Error(codes.Unavailable, b.name+": "+BreakerOpen)
	}
	return func(ctx context.Context, err error) {
		// The caller giving up, or running out of a deadline tighter than
		// ours, says nothing about the peer, whatever code the call ended with.
		if errors.Is(ctx.Err(), context.Canceled) ||
			(status.Code(err) == codes.DeadlineExceeded && !ownDeadline(ctx)) {
			err = nil
		}
		report(err)
	}, nil
}

func (b *breaker) unary() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		done, err := b.allow()
		if err != nil {
			return err
		}
		err = invoker(ctx, method, req, reply, cc, opts...)
		done(ctx, err)
		return err
	}
}

// stream checks the breaker when a stream opens and counts only the open
// error; errors later in a long-lived stream are not attributed to it.
func (b *breaker) stream() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		done, err := b.allow()
		if err != nil {
			return nil, err
		}
		cs, err := streamer(ctx, desc, cc, method, opts...)
		done(ctx, err)
		return cs, err
	}
}
