package grpcserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// healthcheckTimeout bounds the probe, well inside Docker's own timeout.
const healthcheckTimeout = 2 * time.Second

// Healthcheck asks this host's HTTP port (taken from an address such as
// ":8080") for /readyz. Service binaries run it as their `healthcheck`
// subcommand: the Docker HEALTHCHECK of a FROM scratch image, which has no
// shell or curl.
func Healthcheck(ctx context.Context, httpAddr string) error {
	_, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return fmt.Errorf("healthcheck: HTTP address %q: %w", httpAddr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", port) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	return nil
}
