package interceptor

import (
	"context"
	"strings"
	"sync"

	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Ceilings bound how long the server works on one call, whatever deadline
// the caller sent: a slow dependency then fails calls quickly instead of
// piling up goroutines and pool waiters for as long as callers are patient.
// Zero means no ceiling.
type Ceilings struct {
	// Read bounds unary methods marked NO_SIDE_EFFECTS.
	Read time.Duration
	// Write bounds every other unary method.
	Write time.Duration
	// Stream bounds the lifetime of a stream.
	Stream time.Duration
}

// unary returns the ceiling of a unary method.
func (c Ceilings) unary(fullMethod string) time.Duration {
	if readOnly(fullMethod) {
		return c.Read
	}
	return c.Write
}

// readOnly reports whether fullMethod ("/pkg.Service/Method") is declared
// idempotency_level = NO_SIDE_EFFECTS in its registered descriptor.
func readOnly(fullMethod string) bool {
	name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(fullMethod, "/"), "/", "."))
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		return false
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return false
	}
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	return ok && opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS
}

// bound returns ctx with a deadline: the caller's, cut to ceiling when it
// is later or missing, and def when there is none and no ceiling.
func bound(ctx context.Context, def, ceiling time.Duration) (context.Context, context.CancelFunc) {
	dl, has := ctx.Deadline()
	switch {
	case ceiling > 0 && (!has || time.Until(dl) > ceiling):
		if !has && def > 0 && def < ceiling {
			return context.WithTimeout(ctx, def)
		}
		return context.WithTimeout(ctx, ceiling)
	case !has && def > 0:
		return context.WithTimeout(ctx, def)
	default:
		return ctx, func() {}
	}
}

// UnaryDeadline gives calls that arrive without a deadline def, so a
// forgotten client deadline cannot pin server resources forever, and cuts
// any deadline to the method's ceiling.
func UnaryDeadline(def time.Duration, ceilings Ceilings) grpc.UnaryServerInterceptor {
	// Each method's ceiling is looked up in the descriptors once, not on
	// every call.
	var perMethod sync.Map // full method -> time.Duration
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c, ok := perMethod.Load(info.FullMethod)
		if !ok {
			c, _ = perMethod.LoadOrStore(info.FullMethod, ceilings.unary(info.FullMethod))
		}
		ceiling, _ := c.(time.Duration)
		ctx, cancel := bound(ctx, def, ceiling)
		defer cancel()
		return handler(ctx, req)
	}
}

// StreamDeadline is UnaryDeadline for streams, with the stream ceiling as
// the longest a stream may live. Long-lived watch streams usually want no
// default (0) and a ceiling of tens of minutes; clients reconnect.
func StreamDeadline(def time.Duration, ceilings Ceilings) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel := bound(ss.Context(), def, ceilings.Stream)
		defer cancel()
		if ctx == ss.Context() {
			return handler(srv, ss)
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

// contextStream overrides a stream's context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context //nolint:containedctx // a ServerStream must carry its context.
}

func (s *contextStream) Context() context.Context { return s.ctx }
