package grpcclient

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"
	"github.com/sony/gobreaker/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ map[string]string
		want    Config
	}{
		{
			name:    "defaults",
			environ: map[string]string{"CATALOGUE_ADDR": "dns:///catalogue:50051"},
			want: Config{
				Target:                  "dns:///catalogue:50051",
				DefaultTimeout:          2 * time.Second,
				MaxAttempts:             3,
				KeepaliveTime:           30 * time.Second,
				KeepaliveTimeout:        10 * time.Second,
				BreakerMinRequests:      5,
				BreakerFailureRatio:     0.6,
				BreakerOpenTimeout:      30 * time.Second,
				BreakerInterval:         60 * time.Second,
				BreakerHalfOpenRequests: 1,
			},
		},
		{
			name: "overrides",
			environ: map[string]string{
				"CATALOGUE_ADDR":                       "dns:///catalogue:50051",
				"CATALOGUE_TIMEOUT":                    "500ms",
				"CATALOGUE_MAX_ATTEMPTS":               "4",
				"CATALOGUE_KEEPALIVE_TIME":             "1m",
				"CATALOGUE_KEEPALIVE_TIMEOUT":          "5s",
				"CATALOGUE_BREAKER_MIN_REQUESTS":       "10",
				"CATALOGUE_BREAKER_FAILURE_RATIO":      "0.5",
				"CATALOGUE_BREAKER_OPEN_TIMEOUT":       "10s",
				"CATALOGUE_BREAKER_INTERVAL":           "2m",
				"CATALOGUE_BREAKER_HALF_OPEN_REQUESTS": "2",
				"CATALOGUE_TLS_CA":                     "/tls/ca.pem",
				"CATALOGUE_TLS_CERT":                   "/tls/tls.crt",
				"CATALOGUE_TLS_KEY":                    "/tls/tls.key",
				"CATALOGUE_TLS_SERVER_NAME":            "catalogue",
				"ORDERS_ADDR":                          "dns:///orders:50051",
			},
			want: Config{
				Target:                  "dns:///catalogue:50051",
				DefaultTimeout:          500 * time.Millisecond,
				MaxAttempts:             4,
				KeepaliveTime:           time.Minute,
				KeepaliveTimeout:        5 * time.Second,
				BreakerMinRequests:      10,
				BreakerFailureRatio:     0.5,
				BreakerOpenTimeout:      10 * time.Second,
				BreakerInterval:         2 * time.Minute,
				BreakerHalfOpenRequests: 2,
				CAFile:                  "/tls/ca.pem",
				CertFile:                "/tls/tls.crt",
				KeyFile:                 "/tls/tls.key",
				ServerName:              "catalogue",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Config
			if err := env.ParseWithOptions(&got, env.Options{Prefix: "CATALOGUE_", Environment: tt.environ}); err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if err := got.withDefaults().validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
		})
	}
}

// TestDefaultsMatchEnvDefaults keeps a Config built in code in step with one
// loaded from an empty environment.
func TestDefaultsMatchEnvDefaults(t *testing.T) {
	t.Parallel()
	var fromEnv Config
	if err := env.ParseWithOptions(&fromEnv, env.Options{Environment: map[string]string{"ADDR": "dns:///x:1"}}); err != nil {
		t.Fatalf("parse: %v", err)
	}
	fromEnv.Name = "x"
	inCode := Config{Name: "x", Target: "dns:///x:1"}.withDefaults()
	if diff := cmp.Diff(fromEnv, inCode); diff != "" {
		t.Errorf("withDefaults differs from envDefault tags (-env +code):\n%s", diff)
	}
	if got := (Config{Target: "dns:///x:1"}).withDefaults().Name; got != "dns:///x:1" {
		t.Errorf("default name = %q, want the target", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := Config{Target: "dns:///x:1"}.withDefaults()
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // empty: valid
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "empty target", mutate: func(c *Config) { c.Target = "" }, wantErr: "target is empty"},
		{name: "negative timeout", mutate: func(c *Config) { c.DefaultTimeout = -time.Second }, wantErr: "timeout"},
		{name: "zero attempts", mutate: func(c *Config) { c.MaxAttempts = -1 }, wantErr: "max attempts"},
		{name: "keepalive below server minimum", mutate: func(c *Config) { c.KeepaliveTime = 5 * time.Second }, wantErr: "keepalive time"},
		{name: "keepalive at server minimum", mutate: func(c *Config) { c.KeepaliveTime = 10 * time.Second }},
		{name: "ratio above one", mutate: func(c *Config) { c.BreakerFailureRatio = 1.5 }, wantErr: "failure ratio"},
		{name: "cert without key", mutate: func(c *Config) { c.CertFile = "/tls.crt" }, wantErr: "cert and key"},
		{name: "key without cert", mutate: func(c *Config) { c.KeyFile = "/tls.key" }, wantErr: "cert and key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid
			tt.mutate(&c)
			err := c.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("validate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDialRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		opts []Option
	}{
		{name: "invalid config", cfg: Config{Target: "dns:///x:1", KeepaliveTime: time.Second}},
		{name: "malformed idempotent method", cfg: Config{Target: "dns:///x:1"}, opts: []Option{WithIdempotentMethods("GetProduct")}},
		{name: "malformed uncapped method", cfg: Config{Target: "dns:///x:1"}, opts: []Option{WithUncappedMethods("/a.B/C/D")}},
		{name: "missing ca file", cfg: Config{Target: "dns:///x:1", CAFile: "/nonexistent/ca.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := Dial(tt.cfg, tt.opts...)
			if err == nil {
				t.Errorf("Dial succeeded, want an error")
				if cerr := conn.Close(); cerr != nil {
					t.Errorf("close: %v", cerr)
				}
			}
		})
	}
}

func TestBuildServiceConfig(t *testing.T) {
	t.Parallel()
	lb := []map[string]struct{}{{"round_robin": {}}}
	throttling := &retryThrottling{MaxTokens: 10, TokenRatio: 0.1}
	policy := func(attempts int) retryPolicy {
		return retryPolicy{
			MaxAttempts: attempts, InitialBackoff: "0.1s", MaxBackoff: "1s",
			BackoffMultiplier: 2, RetryableStatusCodes: []string{"UNAVAILABLE"},
		}
	}
	tests := []struct {
		name        string
		maxAttempts int
		methods     []string
		want        serviceConfig
	}{
		{
			name:        "no idempotent methods",
			maxAttempts: 3,
			want:        serviceConfig{LoadBalancingConfig: lb, RetryThrottling: throttling},
		},
		{
			name:        "one entry per method, duplicates dropped",
			maxAttempts: 3,
			methods:     []string{"/catalogue.v1.CatalogueService/GetProduct", "catalogue.v1.CatalogueService/ListCategories", "/catalogue.v1.CatalogueService/GetProduct"},
			want: serviceConfig{
				LoadBalancingConfig: lb,
				RetryThrottling:     throttling,
				MethodConfig: []methodConfig{
					{Name: []methodName{{Service: "catalogue.v1.CatalogueService", Method: "GetProduct"}}, RetryPolicy: policy(3)},
					{Name: []methodName{{Service: "catalogue.v1.CatalogueService", Method: "ListCategories"}}, RetryPolicy: policy(3)},
				},
			},
		},
		{
			name:        "single attempt has no retry policy",
			maxAttempts: 1,
			methods:     []string{"/catalogue.v1.CatalogueService/GetProduct"},
			want:        serviceConfig{LoadBalancingConfig: lb, RetryThrottling: throttling},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := buildServiceConfig(tt.maxAttempts, tt.methods)
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			var got serviceConfig
			if err := json.Unmarshal([]byte(raw), &got); err != nil {
				t.Fatalf("unmarshal %s: %v", raw, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("service config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadyToTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		counts gobreaker.Counts
		want   bool
	}{
		{name: "nothing completed", counts: gobreaker.Counts{Requests: 5}, want: false},
		{name: "too few calls", counts: gobreaker.Counts{Requests: 4, TotalFailures: 4}, want: false},
		{name: "exactly the ratio", counts: gobreaker.Counts{Requests: 5, TotalFailures: 3, TotalSuccesses: 2}, want: false},
		{name: "above the ratio", counts: gobreaker.Counts{Requests: 5, TotalFailures: 4, TotalSuccesses: 1}, want: true},
		{name: "all failed", counts: gobreaker.Counts{Requests: 5, TotalFailures: 5}, want: true},
		{name: "in-flight calls do not dilute", counts: gobreaker.Counts{Requests: 20, TotalFailures: 5}, want: true},
		{name: "in-flight calls do not count toward the minimum", counts: gobreaker.Counts{Requests: 20, TotalFailures: 4}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := readyToTrip(tt.counts, 5, 0.6); got != tt.want {
				t.Errorf("readyToTrip(%+v) = %v, want %v", tt.counts, got, tt.want)
			}
		})
	}
}

func TestIsSuccessful(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: true},
		{name: "unavailable", err: status.Error(codes.Unavailable, "x"), want: false},
		{name: "deadline exceeded", err: status.Error(codes.DeadlineExceeded, "x"), want: false},
		{name: "resource exhausted", err: status.Error(codes.ResourceExhausted, "x"), want: false},
		{name: "invalid argument", err: status.Error(codes.InvalidArgument, "x"), want: true},
		{name: "not found", err: status.Error(codes.NotFound, "x"), want: true},
		{name: "internal", err: status.Error(codes.Internal, "x"), want: true},
		{name: "canceled status", err: status.Error(codes.Canceled, "x"), want: true},
		{name: "context canceled", err: context.Canceled, want: true},
		{name: "wrapped context canceled", err: errors.Join(errors.New("x"), context.Canceled), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := isSuccessful(tt.err); got != tt.want {
				t.Errorf("isSuccessful(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
