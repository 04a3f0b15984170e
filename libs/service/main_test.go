package service

import (
	"bytes"
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
