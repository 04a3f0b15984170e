package interceptor

import (
	"context"
	"time"

	"google.golang.org/grpc"
)

// UnaryDefaultDeadline gives calls that arrive without a deadline a default one,
// so a forgotten client deadline cannot pin server resources forever.
func UnaryDefaultDeadline(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if _, ok := ctx.Deadline(); ok || d <= 0 {
			return handler(ctx, req)
		}
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return handler(ctx, req)
	}
}

// StreamDefaultDeadline is UnaryDefaultDeadline for streams. Long-lived watch
// streams usually want 0 (no default).
func StreamDefaultDeadline(d time.Duration) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if _, ok := ss.Context().Deadline(); ok || d <= 0 {
			return handler(srv, ss)
		}
		ctx, cancel := context.WithTimeout(ss.Context(), d)
		defer cancel()
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

// contextStream overrides a stream's context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context //nolint:containedctx // a ServerStream must carry its context.
}

func (s *contextStream) Context() context.Context { return s.ctx }
