package interceptor

import (
	"context"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// The per-RPC log line: one record when the call finishes, with the same
// fields go-grpc-middleware's logging interceptor wrote (protocol,
// grpc.component, grpc.service, grpc.method, grpc.method_type,
// peer.address, grpc.start_time, grpc.request.deadline, grpc.code,
// grpc.error, grpc.duration); trace_id and span_id come from the logger's
// handler. It is built from slog attributes directly, and the attributes
// that depend only on the method are made once per method: the generic
// interceptor's field lists cost about a tenth of a cached GetProduct
// (docs/benchmarks.md, "Interceptor chain overhead").

// rpcLogger writes the per-RPC lines of one server.
type rpcLogger struct {
	l       *slog.Logger
	mu      sync.RWMutex
	methods map[string][]slog.Attr // full method name -> the fixed attributes
}

func newRPCLogger(l *slog.Logger) *rpcLogger {
	return &rpcLogger{l: l, methods: map[string][]slog.Attr{}}
}

// fixed returns the attributes of fullMethod that do not change per call.
// A method has one type, so the name alone is the key.
func (r *rpcLogger) fixed(fullMethod, methodType string) []slog.Attr {
	r.mu.RLock()
	attrs, ok := r.methods[fullMethod]
	r.mu.RUnlock()
	if ok {
		return attrs
	}
	service, method := path.Split(strings.TrimPrefix(fullMethod, "/"))
	attrs = []slog.Attr{
		slog.String("protocol", "grpc"),
		slog.String("grpc.component", "server"),
		slog.String("grpc.service", strings.TrimSuffix(service, "/")),
		slog.String("grpc.method", method),
		slog.String("grpc.method_type", methodType),
	}
	r.mu.Lock()
	r.methods[fullMethod] = attrs
	r.mu.Unlock()
	return attrs
}

// codeLevel is the level of a finished call: client mistakes and normal
// refusals are INFO, trouble a caller may retry or should look at is WARN,
// server faults are ERROR.
func codeLevel(code codes.Code) slog.Level {
	switch code {
	case codes.OK, codes.NotFound, codes.Canceled, codes.AlreadyExists, codes.InvalidArgument, codes.Unauthenticated:
		return slog.LevelInfo
	case codes.DeadlineExceeded, codes.PermissionDenied, codes.ResourceExhausted, codes.FailedPrecondition, codes.Aborted,
		codes.OutOfRange, codes.Unavailable:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// finished logs one call that started at start and ended with err.
func (r *rpcLogger) finished(ctx context.Context, fullMethod, methodType string, start time.Time, err error) {
	code := status.Code(err)
	level := codeLevel(code)
	if !r.l.Enabled(ctx, level) {
		return
	}
	fixed := r.fixed(fullMethod, methodType)
	attrs := make([]slog.Attr, 0, len(fixed)+6)
	attrs = append(attrs, fixed...)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer.address", p.Addr.String()))
	}
	attrs = append(attrs, slog.String("grpc.start_time", start.UTC().Format(time.RFC3339)))
	if d, ok := ctx.Deadline(); ok {
		attrs = append(attrs, slog.String("grpc.request.deadline", d.UTC().Format(time.RFC3339)))
	}
	attrs = append(attrs, slog.String("grpc.code", code.String()))
	if err != nil {
		attrs = append(attrs, slog.String("grpc.error", err.Error()))
	}
	attrs = append(attrs, slog.String("grpc.duration", time.Since(start).String()))
	r.l.LogAttrs(ctx, level, "finished call", attrs...)
}

// UnaryLogging logs every unary RPC once, when it finishes.
func UnaryLogging(l *slog.Logger) grpc.UnaryServerInterceptor {
	r := newRPCLogger(l)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		r.finished(ctx, info.FullMethod, "unary", start, err)
		return resp, err
	}
}

// StreamLogging logs every streaming RPC once, when the stream ends.
func StreamLogging(l *slog.Logger) grpc.StreamServerInterceptor {
	r := newRPCLogger(l)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		r.finished(ss.Context(), info.FullMethod, streamType(info), start, err)
		return err
	}
}

func streamType(info *grpc.StreamServerInfo) string {
	switch {
	case info.IsClientStream && info.IsServerStream:
		return "bidi_stream"
	case info.IsClientStream:
		return "client_stream"
	default:
		return "server_stream"
	}
}
