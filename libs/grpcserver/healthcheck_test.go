package grpcserver_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/storefront-go/storefront/libs/grpcserver"
)

func TestHealthcheckStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		wantErr bool
	}{
		{name: "ready", status: http.StatusOK},
		{name: "not ready", status: http.StatusServiceUnavailable, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/readyz" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
			}))
			t.Cleanup(srv.Close)
			_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
			if err != nil {
				t.Fatalf("split address: %v", err)
			}
			// HTTP_ADDR usually has no host; the probe always asks loopback.
			err = grpcserver.Healthcheck(t.Context(), ":"+port)
			if (err != nil) != tt.wantErr {
				t.Errorf("healthcheck: err = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
	if err := grpcserver.Healthcheck(t.Context(), "no-port"); err == nil {
		t.Error("healthcheck with a malformed address: got nil error")
	}
}
