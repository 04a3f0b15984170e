package auth_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/libs/auth"
)

func TestNewRejectsBadSetup(t *testing.T) {
	t.Parallel()
	file := writeJWKSFile(t, newEdKey(t, "k"))
	ok := testConfig(file)
	with := func(edit func(*auth.Config)) auth.Config {
		c := ok
		edit(&c)
		return c
	}
	tests := []struct {
		name   string
		cfg    auth.Config
		policy auth.Policy
	}{
		{name: "no JWKS source", cfg: with(func(c *auth.Config) { c.JWKSFile = "" })},
		{name: "both JWKS sources", cfg: with(func(c *auth.Config) { c.JWKSURL = "https://idp.test/jwks" })},
		{name: "no issuer", cfg: with(func(c *auth.Config) { c.Issuer = "" })},
		{name: "no audience", cfg: with(func(c *auth.Config) { c.Audience = "" })},
		{name: "alg none", cfg: with(func(c *auth.Config) { c.Algorithms = []string{"EdDSA", "none"} })},
		{name: "HMAC", cfg: with(func(c *auth.Config) { c.Algorithms = []string{"HS256"} })},
		{name: "negative leeway", cfg: with(func(c *auth.Config) { c.Leeway = -time.Second })},
		{name: "negative refresh", cfg: with(func(c *auth.Config) { c.RefreshInterval = -time.Second })},
		{name: "URL not http", cfg: auth.Config{JWKSURL: "file:///etc/jwks.json", Issuer: testIssuer, Audience: testAudience}},
		{name: "URL unreachable", cfg: auth.Config{JWKSURL: "http://127.0.0.1:1/jwks", Issuer: testIssuer, Audience: testAudience}},
		{name: "missing file", cfg: with(func(c *auth.Config) { c.JWKSFile = filepath.Join(t.TempDir(), "nope.json") })},
		{name: "policy key without slash", cfg: ok, policy: auth.Policy{"catalogue.v1.CatalogueService/GetProduct": {Public: true}}},
		{name: "policy key with package prefix only", cfg: ok, policy: auth.Policy{"/catalogue.v1.": {Public: true}}},
		{name: "public rule with roles", cfg: ok, policy: auth.Policy{"/a.v1.S/M": {Public: true, Roles: []string{"x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := auth.New(t.Context(), tt.cfg, tt.policy, nil)
			if err == nil {
				a.Close()
				t.Fatal("New succeeded, want error")
			}
		})
	}

	t.Run("valid setup", func(t *testing.T) {
		t.Parallel()
		a, err := auth.New(t.Context(), ok, auth.Policy{"/a.v1.S/": {}, "/a.v1.S/M": {Public: true}}, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		a.Close()
	})
}

func TestRefreshStopsWithContext(t *testing.T) {
	t.Parallel()
	server, url := startJWKSServer(t, jwks(t, newEdKey(t, "k")))
	ctx, cancel := context.WithCancel(t.Context())
	cfg := auth.Config{JWKSURL: url, Issuer: testIssuer, Audience: testAudience, RefreshInterval: 5 * time.Millisecond}
	a, err := auth.New(ctx, cfg, auth.Policy{}, nil)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	eventually(t, "a background refresh", func() bool { return server.hits.Load() > 1 })
	cancel()
	a.Close() // returns only once the refresh goroutine has exited
	after := server.hits.Load()
	time.Sleep(100 * time.Millisecond)
	if got := server.hits.Load(); got > after+1 {
		t.Errorf("JWKS fetched %d more times after the context ended", got-after)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("AUTH_JWKS_FILE", "/etc/storefront/jwks.json")
	t.Setenv("AUTH_JWKS_URL", "")
	t.Setenv("AUTH_ISSUER", "https://idp.example.com/")
	t.Setenv("AUTH_AUDIENCE", "storefront")
	t.Setenv("AUTH_ALGORITHMS", "ES256,EdDSA")
	t.Setenv("AUTH_LEEWAY", "10s")
	t.Setenv("AUTH_JWKS_REFRESH", "1m")

	got, err := env.ParseAs[auth.Config]()
	if err != nil {
		t.Fatalf("env.ParseAs: %v", err)
	}
	want := auth.Config{
		JWKSFile:        "/etc/storefront/jwks.json",
		Issuer:          "https://idp.example.com/",
		Audience:        "storefront",
		Algorithms:      []string{"ES256", "EdDSA"},
		Leeway:          10 * time.Second,
		RefreshInterval: time.Minute,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Config (-want +got):\n%s", diff)
	}
}

func TestConfigEnvDefaults(t *testing.T) {
	t.Parallel()
	got, err := env.ParseAsWithOptions[auth.Config](env.Options{Environment: map[string]string{}})
	if err != nil {
		t.Fatalf("env.ParseAs: %v", err)
	}
	want := auth.Config{
		Algorithms:      auth.DefaultAlgorithms(),
		Leeway:          auth.DefaultLeeway,
		RefreshInterval: auth.DefaultRefreshInterval,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Config (-want +got):\n%s", diff)
	}
}

func TestPrincipalContext(t *testing.T) {
	t.Parallel()
	if _, ok := auth.PrincipalFrom(t.Context()); ok {
		t.Fatal("PrincipalFrom on a bare context reported a principal")
	}
	roles := []string{"admin", "reader"}
	ctx := auth.WithPrincipal(t.Context(), auth.Principal{Subject: "kim", Roles: roles})
	roles[0] = "mutated"

	got, ok := auth.PrincipalFrom(ctx)
	if !ok {
		t.Fatal("PrincipalFrom reported no principal")
	}
	if diff := cmp.Diff(auth.Principal{Subject: "kim", Roles: []string{"admin", "reader"}}, got); diff != "" {
		t.Errorf("Principal (-want +got):\n%s", diff)
	}
	for role, want := range map[string]bool{"admin": true, "reader": true, "mutated": false, "": false} {
		if got.HasRole(role) != want {
			t.Errorf("HasRole(%q) = %v, want %v", role, !want, want)
		}
	}
}
