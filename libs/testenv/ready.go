package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// loopbackHost is tried after the daemon host testcontainers reports. When
// tests run in a container that shares its network namespace with the
// Docker daemon, testcontainers guesses the default gateway, which does not
// forward published ports; the loopback address does.
const loopbackHost = "127.0.0.1"

// hostOverrideEnv, when set, is the only host tried, as in testcontainers.
const hostOverrideEnv = "TESTCONTAINERS_HOST_OVERRIDE"

// probeTimeout bounds one readiness probe of one candidate host.
const probeTimeout = 3 * time.Second

// WaitReachable probes the container's mapped port on each candidate host
// (the host testcontainers reports, then loopback) until probe succeeds,
// bounded by 60s, and returns that host:port. Suites that start their own
// containers use it instead of wait strategies, which only try the reported host.
func WaitReachable(ctx context.Context, ctr *testcontainers.DockerContainer, port string, probe func(ctx context.Context, hostPort string) error) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	mapped, err := ctr.MappedPort(ctx, port)
	if err != nil {
		return "", fmt.Errorf("mapped port %s: %w", port, err)
	}
	hosts, err := candidateHosts(ctx, ctr)
	if err != nil {
		return "", err
	}
	var lastErr error
	for {
		for _, host := range hosts {
			hostPort := net.JoinHostPort(host, mapped.Port())
			// One unreachable candidate must not eat the whole budget.
			pctx, pcancel := context.WithTimeout(ctx, probeTimeout)
			err := probe(pctx, hostPort)
			pcancel()
			if err == nil {
				return hostPort, nil
			}
			lastErr = fmt.Errorf("%s: %w", hostPort, err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for port %s: %w (last error: %w)", port, ctx.Err(), lastErr)
		case <-time.After(readyPoll):
		}
	}
}

func candidateHosts(ctx context.Context, ctr *testcontainers.DockerContainer) ([]string, error) {
	host, err := ctr.Host(ctx)
	if err != nil {
		return nil, fmt.Errorf("container host: %w", err)
	}
	if _, ok := os.LookupEnv(hostOverrideEnv); ok || host == loopbackHost {
		return []string{host}, nil
	}
	return []string{host, loopbackHost}, nil
}
