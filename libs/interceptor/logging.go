package interceptor

import (
	"context"
	"log/slog"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
)

// loggingOptions log each RPC once, when it finishes, with method, code,
// duration and peer. trace_id comes from the logger's handler.
func loggingOptions() []logging.Option {
	return []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithDurationField(logging.DurationToDurationField),
	}
}

func slogAdapter(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// UnaryLogging logs every unary RPC once.
func UnaryLogging(l *slog.Logger) grpc.UnaryServerInterceptor {
	return logging.UnaryServerInterceptor(slogAdapter(l), loggingOptions()...)
}

// StreamLogging logs every streaming RPC once, when the stream ends.
func StreamLogging(l *slog.Logger) grpc.StreamServerInterceptor {
	return logging.StreamServerInterceptor(slogAdapter(l), loggingOptions()...)
}
