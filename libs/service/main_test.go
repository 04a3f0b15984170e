package service

import (
	"bytes"
	"context"
	"errors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/libs/auth"
)

// noConfig is a service configuration with nothing of its own.
type noConfig struct{ Config }

func testSpec() Spec[noConfig] { return Spec[noConfig]{Name: "testsvc"} }

func TestMainRejectsUnknownCommandsAndExtraArguments(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"migrate", "extra"}, {"version", "extra"}} {
		var out bytes.Buffer
		err := run(t.Context(), args, &out, testSpec())
		if err == nil {
			t.Errorf("run(%q): got nil error", args)
			continue
		}
		if !strings.Contains(err.Error(), "usage:") {
			t.Errorf("run(%q) = %v; want the usage in the error", args, err)
		}
	}
}

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

	var out bytes.Buffer
	if err := run(t.Context(), []string{"healthcheck"}, &out, testSpec()); err != nil {
		t.Errorf("healthcheck of a ready server: %v", err)
	}
	ready = false
	if err := run(t.Context(), []string{"healthcheck"}, &out, testSpec()); err == nil {
		t.Error("healthcheck of an unready server succeeded")
	}
}

func TestVersionPrintsTheBuild(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, &out, testSpec()); err != nil {
		t.Fatalf("version: %v", err)
	}
	b := BuildInfo()
	for _, want := range []string{"testsvc ", b.Version, "commit " + b.Commit, "built " + b.BuildTime, b.GoVersion} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output %q lacks %q", out.String(), want)
		}
	}
}

func TestMigrateNeedsOnlyTheDatabaseURL(t *testing.T) {
	// Without DATABASE_URL, migrate names that variable and nothing else it
	// does not need (NATS_URL, say).
	t.Setenv("DATABASE_URL", "restored after the test")
	if err := os.Unsetenv("DATABASE_URL"); err != nil {
		t.Fatal(err)
	}
	err := run(t.Context(), []string{"migrate"}, &bytes.Buffer{}, testSpec())
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "NATS_URL") {
		t.Errorf("migrate without DATABASE_URL = %v; want an error naming DATABASE_URL only", err)
	}
}

func TestWithInfrastructure(t *testing.T) {
	t.Parallel()
	own := auth.Rule{Roles: []string{"admin"}}
	got := WithInfrastructure(auth.Policy{
		"/shop.v1.Shop/Buy":                     own,
		"/grpc.reflection.v1.ServerReflection/": own, // a service may restrict reflection
	})
	want := auth.Policy{
		"/shop.v1.Shop/Buy":                          own,
		"/grpc.health.v1.Health/":                    {Public: true},
		"/grpc.reflection.v1.ServerReflection/":      own,
		"/grpc.reflection.v1alpha.ServerReflection/": {Public: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
}

func TestCheck(t *testing.T) {
	lis, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	t.Setenv("CHECK_ADDR", lis.Addr().String())

	var probed int
	spec := testSpec()
	spec.Probe = func(context.Context, *grpc.ClientConn) error { probed++; return nil }
	var out bytes.Buffer
	if err := run(t.Context(), []string{"check"}, &out, spec); err != nil || probed != 1 {
		t.Errorf("check of a serving server: %v, probed %d times", err, probed)
	}
	spec.Probe = func(context.Context, *grpc.ClientConn) error { return errors.New("read failed") }
	if err := run(t.Context(), []string{"check"}, &out, spec); err == nil || !strings.Contains(err.Error(), "read failed") {
		t.Errorf("check with a failing read = %v", err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := run(t.Context(), []string{"check"}, &out, testSpec()); err == nil || !strings.Contains(err.Error(), "NOT_SERVING") {
		t.Errorf("check of a NOT_SERVING server = %v", err)
	}
	t.Setenv("CHECK_ADDR", "")
	if err := run(t.Context(), []string{"check"}, &out, testSpec()); err == nil || !strings.Contains(err.Error(), "CHECK_ADDR") {
		t.Errorf("check without CHECK_ADDR = %v", err)
	}
}

func TestRefusedWithoutToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		answer error
		ok     bool
	}{
		{status.Error(codes.Unauthenticated, "no token"), true},
		{nil, false},
		{status.Error(codes.Unavailable, "down"), false},
		{status.Error(codes.PermissionDenied, "wrong role"), false},
	} {
		probe := RefusedWithoutToken(func(context.Context, *grpc.ClientConn) error { return tc.answer })
		if err := probe(t.Context(), nil); (err == nil) != tc.ok {
			t.Errorf("answer %v: probe = %v, want ok=%v", tc.answer, err, tc.ok)
		}
	}
}
