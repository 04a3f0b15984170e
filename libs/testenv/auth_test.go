package testenv_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/testenv"
)

// A replica configured with the Auth's JWKS file, issuer and audience
// accepts the tokens it mints.
func TestAuthTokensVerify(t *testing.T) {
	t.Parallel()
	a := testenv.NewAuth(t, "testenv-issuer", "testenv-audience")
	verifier, err := auth.New(t.Context(), auth.Config{JWKSFile: a.JWKSFile, Issuer: a.Issuer, Audience: a.Audience},
		auth.Policy{"/test.v1.Test/": {Public: true}}, nil)
	if err != nil {
		t.Fatalf("new authenticator: %v", err)
	}
	t.Cleanup(verifier.Close)

	tests := []struct {
		name  string
		token func() string
		want  auth.Principal
	}{
		{
			name:  "token",
			token: func() string { return a.Token("alice", "customer", "admin") },
			want:  auth.Principal{Subject: "alice", Roles: []string{"customer", "admin"}},
		},
		{
			name: "bearer header",
			token: func() string {
				h := a.Bearer("svc", "service")
				tok, ok := strings.CutPrefix(h, "Bearer ")
				if !ok {
					t.Errorf("Bearer = %q, want a Bearer header", h)
				}
				return tok
			},
			want: auth.Principal{Subject: "svc", Roles: []string{"service"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verifier.Verify(t.Context(), tt.token())
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplicaEnv(t *testing.T) {
	t.Parallel()
	a := testenv.NewAuth(t, "iss", "aud")
	got := testenv.ReplicaEnv("postgres://db", "nats://nats", a,
		map[string]string{"SHUTDOWN_TIMEOUT": "1s", "EXTRA": "first"},
		map[string]string{"EXTRA": "second"})
	want := map[string]string{
		"DATABASE_URL":     "postgres://db",
		"NATS_URL":         "nats://nats",
		"AUTH_JWKS_FILE":   a.JWKSFile,
		"AUTH_ISSUER":      "iss",
		"AUTH_AUDIENCE":    "aud",
		"GRPC_ADDR":        "127.0.0.1:0",
		"HTTP_ADDR":        "127.0.0.1:0",
		"ADMIN_ADDR":       "127.0.0.1:0",
		"SHUTDOWN_TIMEOUT": "1s",
		"GRPC_REFLECTION":  "true",
		"EXTRA":            "second",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}
