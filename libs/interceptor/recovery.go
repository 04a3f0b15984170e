package interceptor

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Recovery turns a handler panic into an INTERNAL status. The panic value and
// stack are logged and counted; the caller sees only a generic message.
type Recovery struct {
	logger *slog.Logger
	panics prometheus.Counter
}

// NewRecovery registers storefront_grpc_server_panics_total on reg.
func NewRecovery(logger *slog.Logger, reg prometheus.Registerer) (*Recovery, error) {
	panics := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "storefront_grpc_server_panics_total",
		Help: "Handler panics recovered and turned into INTERNAL.",
	})
	if err := reg.Register(panics); err != nil {
		return nil, err
	}
	return &Recovery{logger: logger, panics: panics}, nil
}

func (r *Recovery) handle(ctx context.Context, p any) error {
	r.panics.Inc()
	r.logger.ErrorContext(ctx, "handler panic", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
	return status.Error(codes.Internal, "internal error")
}

// Unary returns the unary interceptor.
func (r *Recovery) Unary() grpc.UnaryServerInterceptor {
	return recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(r.handle))
}

// Stream returns the stream interceptor.
func (r *Recovery) Stream() grpc.StreamServerInterceptor {
	return recovery.StreamServerInterceptor(recovery.WithRecoveryHandlerContext(r.handle))
}
