package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/storefront-go/storefront/libs/auth"
)

func TestParseOptionsTokenSource(t *testing.T) {
	t.Parallel()
	env := func(token string) func(string) string {
		return func(k string) string {
			if k == "STOREFRONT_TOKEN" {
				return token
			}
			return ""
		}
	}
	tests := []struct {
		name      string
		args      []string
		env       string
		wantToken string
		wantKey   string
		wantErr   error
	}{
		{name: "env token", env: "from-env", wantToken: "from-env"},
		{name: "flag beats env", args: []string{"-token", "from-flag"}, env: "from-env", wantToken: "from-flag"},
		{name: "signing key beats env token", args: []string{"-signing-key", "k.json"}, env: "from-env", wantKey: "k.json"},
		{name: "token and signing key", args: []string{"-token", "t", "-signing-key", "k.json"}, wantErr: errUsage},
		{name: "non-positive ttl", args: []string{"-signing-key", "k.json", "-ttl", "0s"}, wantErr: errUsage},
		{name: "stray argument", args: []string{"extra"}, wantErr: errUsage},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: errUsage},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseOptions(tt.args, io.Discard, env(tt.env))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parseOptions(%q) error = %v, want %v", tt.args, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if o.token != tt.wantToken || o.signingKey != tt.wantKey {
				t.Errorf("token %q, signing key %q; want %q, %q", o.token, o.signingKey, tt.wantToken, tt.wantKey)
			}
		})
	}
}

func TestParseOptionsDefaults(t *testing.T) {
	t.Parallel()
	o, err := parseOptions(nil, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := options{
		addr: "127.0.0.1:8080", catalogue: "http://127.0.0.1:8081", orders: "http://127.0.0.1:8082", analytics: "http://127.0.0.1:8083",
		issuer: "storefront-dev", audience: "storefront", sub: "shopper", role: "customer", ttl: 12 * time.Hour,
	}
	if o != want {
		t.Errorf("defaults = %+v, want %+v", o, want)
	}
}

func TestUserComesFromAGivenToken(t *testing.T) {
	t.Parallel()
	signer, err := auth.NewSigner("k")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.Mint(auth.TokenClaims{Subject: "grace", Roles: []string{"customer"}, Issuer: "i", Audience: "a", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ token, want string }{
		{tok, "grace"},
		{"not-a-jwt", "shopper"},
		{"a.!!!.c", "shopper"},
		{"", "shopper"},
	} {
		o, err := parseOptions([]string{"-token", tt.token}, io.Discard, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := o.pageConfig()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.User != tt.want || cfg.Token != tt.token {
			t.Errorf("token %.20q: user %q, token %.20q; want user %q and the token as given", tt.token, cfg.User, cfg.Token, tt.want)
		}
	}
}

func TestMissingSigningKey(t *testing.T) {
	t.Parallel()
	o, err := parseOptions([]string{"-signing-key", filepath.Join(t.TempDir(), "absent.json")}, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.pageConfig(); err == nil {
		t.Error("pageConfig minted a token from a missing key file")
	}
}

// TestRunServesUntilCancelled starts the command on a free port, reads the
// address from its first log line, and checks it serves and then stops
// cleanly when its context ends.
func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs, logw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-token", "t"}, logw, func(string) string { return "" })
		_ = logw.Close()
	}()
	lines := bufio.NewScanner(logs)
	if !lines.Scan() {
		t.Fatalf("no log line: %v", lines.Err())
	}
	var first struct {
		Msg string `json:"msg"`
		URL string `json:"url"`
	}
	if err := json.Unmarshal(lines.Bytes(), &first); err != nil || first.URL == "" {
		t.Fatalf("first log line %s: %v", lines.Bytes(), err)
	}
	go func() { _, _ = io.Copy(io.Discard, logs) }()

	resp, body := do(t, http.MethodGet, first.URL+"/healthz")
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz: %s %q", resp.Status, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run returned %d after cancel, want 0", code)
		}
	case <-time.After(2 * shutdownTimeout):
		t.Fatal("run did not return after its context ended")
	}
}
