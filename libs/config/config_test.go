package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/libs/config"
)

type database struct {
	URL      string `env:"URL,required"`
	MaxConns int32  `env:"MAX_CONNS" envDefault:"10"`
}

type client struct {
	Timeout time.Duration `env:"TIMEOUT" envDefault:"1s"`
}

type appConfig struct {
	Name    string        `env:"SERVICE_NAME" envDefault:"catalogue"`
	Timeout time.Duration `env:"TIMEOUT" envDefault:"2s"`
	Port    int           `env:"PORT" envDefault:"8080"`
	DB      database      `envPrefix:"DATABASE_"`
	Peer    client        `envPrefix:"PEER_"`
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		environ  map[string]string
		want     appConfig
		problems []string
	}{
		{
			name:    "defaults and required",
			environ: map[string]string{"DATABASE_URL": "postgres://x"},
			want:    appConfig{Name: "catalogue", Timeout: 2 * time.Second, Port: 8080, DB: database{URL: "postgres://x", MaxConns: 10}, Peer: client{Timeout: time.Second}},
		},
		{
			name:    "overrides",
			environ: map[string]string{"DATABASE_URL": "postgres://y", "TIMEOUT": "150ms", "PORT": "9", "DATABASE_MAX_CONNS": "3"},
			want:    appConfig{Name: "catalogue", Timeout: 150 * time.Millisecond, Port: 9, DB: database{URL: "postgres://y", MaxConns: 3}, Peer: client{Timeout: time.Second}},
		},
		{
			name:     "a nested field sharing a name is told apart",
			environ:  map[string]string{"DATABASE_URL": "postgres://x", "PEER_TIMEOUT": "bogus"},
			problems: []string{`PEER_TIMEOUT: unable to parse duration: time: invalid duration "bogus"`},
		},
		{
			name:     "both set, the bad value decides",
			environ:  map[string]string{"DATABASE_URL": "postgres://x", "TIMEOUT": "3s", "PEER_TIMEOUT": "later"},
			problems: []string{`PEER_TIMEOUT: unable to parse duration: time: invalid duration "later"`},
		},
		{
			name:     "missing required names the variable",
			environ:  map[string]string{},
			problems: []string{"DATABASE_URL: required but not set"},
		},
		{
			name:    "every bad value is reported with its variable",
			environ: map[string]string{"TIMEOUT": "soon", "PORT": "eighty", "DATABASE_MAX_CONNS": "-x"},
			problems: []string{
				"DATABASE_MAX_CONNS: invalid syntax (got \"-x\")",
				"DATABASE_URL: required but not set",
				"PORT: invalid syntax (got \"eighty\")",
				"TIMEOUT: unable to parse duration: time: invalid duration \"soon\"",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.LoadWithEnv[appConfig](tt.environ)
			if tt.problems == nil {
				if err != nil {
					t.Fatalf("LoadWithEnv: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("config mismatch (-want +got):\n%s", diff)
				}
				return
			}
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error = %v, want *config.Error", err)
			}
			if diff := cmp.Diff(tt.problems, cerr.Problems); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVarsFollowsPrefixesAndDefaults(t *testing.T) {
	t.Parallel()
	type withFile struct {
		App   appConfig
		Token string `env:"TOKEN_FILE,file"`
		Key   string `env:"KEY,notEmpty"`
	}
	got, err := config.Vars[withFile]()
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Var{
		{Name: "DATABASE_MAX_CONNS", Default: "10", HasDefault: true},
		{Name: "DATABASE_URL", Required: true},
		{Name: "KEY", Required: true},
		{Name: "PEER_TIMEOUT", Default: "1s", HasDefault: true},
		{Name: "PORT", Default: "8080", HasDefault: true},
		{Name: "SERVICE_NAME", Default: "catalogue", HasDefault: true},
		{Name: "TIMEOUT", Default: "2s", HasDefault: true},
		{Name: "TOKEN_FILE", File: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Vars (-want +got):\n%s", diff)
	}
}
