package grpcclient

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// deadlines applies the per-call deadline: timeout when the caller set none,
// and timeout as a cap on a longer caller deadline. Methods in uncapped keep
// a longer caller deadline, for long-lived streams.
type deadlines struct {
	timeout  time.Duration
	uncapped map[string]bool
}

// ownDeadlineKey marks a context whose deadline is this client's own (the
// default or the cap), not the caller's.
type ownDeadlineKey struct{}

// ownDeadline reports whether the deadline in force on ctx was set by the
// deadline interceptor. The breaker counts DEADLINE_EXCEEDED only then: a
// caller that chose a tighter deadline says nothing about the peer's health.
func ownDeadline(ctx context.Context) bool {
	own, _ := ctx.Value(ownDeadlineKey{}).(bool)
	return own
}

// withDeadline returns ctx bounded as described on deadlines. The returned
// cancel must be called once the call is over.
func (d deadlines) withDeadline(ctx context.Context, method string) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if ok && (d.uncapped[method] || time.Until(dl) <= d.timeout) {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithValue(ctx, ownDeadlineKey{}, true), d.timeout)
}

func (d deadlines) unary() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, cancel := d.withDeadline(ctx, method)
		defer cancel()
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

func (d deadlines) stream() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, cancel := d.withDeadline(ctx, method)
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			cancel()
			return nil, err
		}
		return &cancelStream{ClientStream: cs, serverStreams: desc.ServerStreams, cancel: sync.OnceFunc(cancel)}, nil
	}
}

// cancelStream releases the deadline's timer when the stream ends, using the
// same end-of-stream rule as grpc: RecvMsg fails, or a non-server-streaming
// call receives its single response.
type cancelStream struct {
	grpc.ClientStream
	serverStreams bool
	cancel        func()
}

func (s *cancelStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil || !s.serverStreams {
		s.cancel()
	}
	return err
}
