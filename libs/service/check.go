package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/grpcclient"
)

// checkTimeout bounds the whole check; each of its two calls also has the
// client's own deadline (CHECK_TIMEOUT, 2s by default).
const checkTimeout = 10 * time.Second

// checkConfig is what `<service> check` reads: the replica or Service to
// call and, when it serves TLS, the CA and client certificate
// (CHECK_TLS_CA, CHECK_TLS_CERT, CHECK_TLS_KEY, CHECK_TLS_SERVER_NAME).
type checkConfig struct {
	Target grpcclient.Config `envPrefix:"CHECK_"`
}

// check calls a running service from outside, as a deploy's smoke test
// does (the chart's `helm test` Pods): its gRPC health must be SERVING, and
// then spec.Probe, one read through the whole interceptor chain, must pass.
func check(ctx context.Context, name string, cfg grpcclient.Config, probe func(context.Context, *grpc.ClientConn) error) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if cfg.Name == "" {
		cfg.Name = name
	}
	conn, err := grpcclient.Dial(cfg)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("check: health of %s: %w", cfg.Target, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("check: %s is %s", cfg.Target, resp.GetStatus())
	}
	if probe == nil {
		return nil
	}
	if err := probe(ctx, conn); err != nil {
		return fmt.Errorf("check: %s read: %w", name, err)
	}
	return nil
}

// RefusedWithoutToken is the Probe of a service without a public read: it
// makes call with no token, and passes when the call is refused as
// Unauthenticated, which only a replica whose whole chain runs answers.
func RefusedWithoutToken(call func(ctx context.Context, conn *grpc.ClientConn) error) func(context.Context, *grpc.ClientConn) error {
	return func(ctx context.Context, conn *grpc.ClientConn) error {
		err := call(ctx, conn)
		if status.Code(err) == codes.Unauthenticated {
			return nil
		}
		if err == nil {
			return errors.New("answered a call without a token")
		}
		return fmt.Errorf("want Unauthenticated without a token: %w", err)
	}
}
