package interceptor_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/interceptor"
)

// remaining runs the unary interceptor for method under a caller deadline
// of callerTimeout (none when 0) and returns how long the handler had.
func remaining(t *testing.T, def time.Duration, c interceptor.Ceilings, method string, callerTimeout time.Duration) (time.Duration, bool) {
	t.Helper()
	ctx := t.Context()
	if callerTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callerTimeout)
		defer cancel()
	}
	var (
		left time.Duration
		has  bool
	)
	_, err := interceptor.UnaryDeadline(def, c)(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method},
		func(ctx context.Context, _ any) (any, error) {
			dl, ok := ctx.Deadline()
			left, has = time.Until(dl), ok
			return nil, nil //nolint:nilnil // the test handler has nothing to return
		})
	if err != nil {
		t.Fatal(err)
	}
	return left, has
}

func TestUnaryDeadlineCutsToTheMethodsCeiling(t *testing.T) {
	t.Parallel()
	c := interceptor.Ceilings{Read: 2 * time.Second, Write: 5 * time.Second}
	read := cataloguev1.CatalogueService_GetProduct_FullMethodName    // NO_SIDE_EFFECTS
	write := cataloguev1.CatalogueService_ReserveStock_FullMethodName // has side effects
	tests := []struct {
		name          string
		method        string
		def, caller   time.Duration
		atMost, above time.Duration // the handler's time left is in (above, atMost]
	}{
		{name: "long read deadline is cut", method: read, def: 30 * time.Second, caller: time.Minute, atMost: 2 * time.Second, above: time.Second},
		{name: "long write deadline is cut", method: write, def: 30 * time.Second, caller: time.Minute, atMost: 5 * time.Second, above: 4 * time.Second},
		{name: "shorter caller deadline is kept", method: write, def: 30 * time.Second, caller: 500 * time.Millisecond, atMost: 500 * time.Millisecond, above: 0},
		{name: "no deadline gets the ceiling when it is below the default", method: read, def: 30 * time.Second, atMost: 2 * time.Second, above: time.Second},
		{name: "no deadline gets the default when it is below the ceiling", method: write, def: time.Second, atMost: time.Second, above: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			left, has := remaining(t, tt.def, c, tt.method, tt.caller)
			if !has || left > tt.atMost || left <= tt.above {
				t.Errorf("handler had %v (deadline %t); want more than %v and at most %v", left, has, tt.above, tt.atMost)
			}
		})
	}
}

func TestUnaryDeadlineWithoutCeilingsKeepsTheCallersDeadline(t *testing.T) {
	t.Parallel()
	left, has := remaining(t, 0, interceptor.Ceilings{}, cataloguev1.CatalogueService_GetProduct_FullMethodName, time.Hour)
	if !has || left <= 59*time.Minute {
		t.Errorf("handler had %v; want the caller's hour", left)
	}
	if _, has := remaining(t, 0, interceptor.Ceilings{}, cataloguev1.CatalogueService_GetProduct_FullMethodName, 0); has {
		t.Error("a call without deadline, default or ceiling got a deadline")
	}
}

func TestStreamDeadlineBoundsAStreamsLifetime(t *testing.T) {
	t.Parallel()
	var left time.Duration
	err := interceptor.StreamDeadline(0, interceptor.Ceilings{Stream: 3 * time.Second})(nil, &fakeStream{ctx: t.Context()}, &grpc.StreamServerInfo{},
		func(_ any, ss grpc.ServerStream) error {
			dl, ok := ss.Context().Deadline()
			if !ok {
				t.Error("stream has no deadline")
			}
			left = time.Until(dl)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if left > 3*time.Second || left <= 2*time.Second {
		t.Errorf("stream had %v; want its 3s ceiling", left)
	}
}
