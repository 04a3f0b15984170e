package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HTTP_ADDR", ":"+port)

	if err := dispatch(t.Context(), []string{"healthcheck"}); err != nil {
		t.Errorf("healthcheck of a ready server: %v", err)
	}
	ready = false
	if err := dispatch(t.Context(), []string{"healthcheck"}); err == nil {
		t.Error("healthcheck of an unready server succeeded")
	}
}

func TestDispatchRejectsUnknownCommand(t *testing.T) {
	t.Parallel()
	err := dispatch(t.Context(), []string{"frobnicate"})
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("dispatch(frobnicate) = %v, want an unknown command error", err)
	}
}
