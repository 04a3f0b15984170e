package grpcclient_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/grpcclient"
)

func TestDeadline(t *testing.T) {
	t.Parallel()
	const limit = 5 * time.Second
	tests := []struct {
		name     string
		callerDL time.Duration // 0: no caller deadline
		uncapped bool
		wantMax  time.Duration // server-observed remaining time must not exceed it
		wantMin  time.Duration // and must exceed this
	}{
		{name: "no deadline gets the default", wantMax: limit},
		{name: "longer deadline is capped", callerDL: time.Hour, wantMax: limit},
		{name: "shorter deadline is kept", callerDL: time.Second, wantMax: time.Second},
		{name: "uncapped method keeps a longer deadline", callerDL: time.Hour, uncapped: true, wantMin: limit, wantMax: time.Hour},
		{name: "uncapped method without deadline gets the default", uncapped: true, wantMax: limit},
	}
	calls := []struct {
		name   string
		method string
		call   func(context.Context, cataloguev1.CatalogueServiceClient) error
	}{
		{name: "unary", method: cataloguev1.CatalogueService_GetProduct_FullMethodName, call: func(ctx context.Context, c cataloguev1.CatalogueServiceClient) error {
			_, err := c.GetProduct(ctx, &cataloguev1.GetProductRequest{})
			return err
		}},
		{name: "stream", method: cataloguev1.CatalogueService_WatchAvailability_FullMethodName, call: drainWatch},
	}
	for _, c := range calls {
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				srv, addr := startServer(t)
				var opts []grpcclient.Option
				if tt.uncapped {
					opts = append(opts, grpcclient.WithUncappedMethods(c.method))
				}
				client := dial(t, grpcclient.Config{Name: "catalogue", Target: "dns:///" + addr, DefaultTimeout: limit}, opts...)
				ctx := t.Context()
				if tt.callerDL > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.callerDL)
					defer cancel()
				}

				if err := c.call(ctx, client); err != nil {
					t.Fatalf("call: %v", err)
				}

				got, ok := srv.lastDeadline()
				if !ok {
					t.Fatal("server saw no deadline")
				}
				if got <= tt.wantMin || got > tt.wantMax {
					t.Errorf("server deadline in %v, want in (%v, %v]", got, tt.wantMin, tt.wantMax)
				}
			})
		}
	}
}

// drainWatch opens WatchAvailability and reads it to the end.
func drainWatch(ctx context.Context, c cataloguev1.CatalogueServiceClient) error {
	stream, err := c.WatchAvailability(ctx, &cataloguev1.WatchAvailabilityRequest{})
	if err != nil {
		return err
	}
	for range 10 {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return errors.New("stream did not end after 10 messages")
}
