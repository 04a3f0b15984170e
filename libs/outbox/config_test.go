package outbox

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"
)

func TestRelayConfigDefaults(t *testing.T) {
	t.Parallel()
	want := RelayConfig{
		BatchSize:       100,
		PollInterval:    200 * time.Millisecond,
		MaxBackoff:      10 * time.Second,
		Retention:       72 * time.Hour,
		CleanupInterval: 10 * time.Minute,
		PublishTimeout:  5 * time.Second,
		MaxAttempts:     20,
	}
	tests := []struct {
		name string
		in   RelayConfig
		want RelayConfig
	}{
		{name: "zero", in: RelayConfig{}, want: want},
		{name: "negative", in: RelayConfig{BatchSize: -1, PollInterval: -1, MaxBackoff: -1, Retention: -1, CleanupInterval: -1, PublishTimeout: -1, MaxAttempts: -1}, want: want},
		{
			name: "set fields kept",
			in:   RelayConfig{BatchSize: 7, PollInterval: time.Second, MaxBackoff: time.Minute, Retention: time.Hour, CleanupInterval: time.Second, PublishTimeout: time.Second, MaxAttempts: 3},
			want: RelayConfig{BatchSize: 7, PollInterval: time.Second, MaxBackoff: time.Minute, Retention: time.Hour, CleanupInterval: time.Second, PublishTimeout: time.Second, MaxAttempts: 3},
		},
		{
			name: "max backoff never below poll interval",
			in:   RelayConfig{PollInterval: time.Minute, MaxBackoff: time.Second},
			want: RelayConfig{BatchSize: 100, PollInterval: time.Minute, MaxBackoff: time.Minute, Retention: 72 * time.Hour, CleanupInterval: 10 * time.Minute, PublishTimeout: 5 * time.Second, MaxAttempts: 20},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, tc.in.withDefaults()); diff != "" {
				t.Errorf("withDefaults mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRelayConfigFromEnvMatchesDefaults(t *testing.T) {
	t.Parallel()
	got, err := env.ParseAsWithOptions[RelayConfig](env.Options{Environment: map[string]string{}})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if diff := cmp.Diff(RelayConfig{}.withDefaults(), got); diff != "" {
		t.Errorf("env defaults differ from code defaults (-code +env):\n%s", diff)
	}
}

func TestRelayConfigMaxAttemptsFromEnv(t *testing.T) {
	t.Parallel()
	got, err := env.ParseAsWithOptions[RelayConfig](env.Options{Environment: map[string]string{"OUTBOX_MAX_ATTEMPTS": "7"}})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got.MaxAttempts != 7 {
		t.Errorf("MaxAttempts = %d, want 7 from OUTBOX_MAX_ATTEMPTS", got.MaxAttempts)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	cfg := RelayConfig{PollInterval: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{2, 400 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{4, time.Second},
		{1000, time.Second},
	}
	for _, tc := range tests {
		if got := cfg.backoff(tc.failures); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "short", in: "abc", n: 10, want: "abc"},
		{name: "cut", in: "abcdef", n: 3, want: "abc"},
		{name: "multibyte split", in: "aé", n: 2, want: "a"},
		{name: "nul removed", in: "a\x00b", n: 10, want: "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := truncate(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
				t.Errorf("truncate(%q, %d) = %q is not valid Postgres text", tc.in, tc.n, got)
			}
		})
	}
}
