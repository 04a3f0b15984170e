package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

func jwkJSON(t *testing.T, k jose.JSONWebKey) json.RawMessage {
	t.Helper()
	data, err := json.Marshal(k)
	if err != nil {
		t.Fatalf("encode JWK %q: %v", k.KeyID, err)
	}
	return data
}

func setJSON(t *testing.T, keys ...json.RawMessage) []byte {
	t.Helper()
	data, err := json.Marshal(map[string][]json.RawMessage{"keys": keys})
	if err != nil {
		t.Fatalf("encode JWKS: %v", err)
	}
	return data
}

func edJWK(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return jose.JSONWebKey{Key: pub, KeyID: kid, Use: "sig"}
}

func TestKeySetEarlyRefreshOnUnknownKID(t *testing.T) {
	t.Parallel()
	var doc atomic.Pointer[[]byte]
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write(*doc.Load())
	}))
	t.Cleanup(srv.Close)
	publish := func(kids ...string) {
		var keys []json.RawMessage
		for _, kid := range kids {
			keys = append(keys, jwkJSON(t, edJWK(t, kid)))
		}
		d := setJSON(t, keys...)
		doc.Store(&d)
	}

	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newKeySet(srv.URL, httpFetcher(srv.Client(), srv.URL), slog.New(slog.DiscardHandler))
	s.now = func() time.Time { return clock }

	publish("a")
	if err := s.refresh(t.Context()); err != nil {
		t.Fatalf("initial refresh: %v", err)
	}
	publish("a", "b")

	// Right after a fetch, an unknown kid must not cause another one.
	if _, err := s.lookup(t.Context(), "b"); !errors.Is(err, errUnknownKey) {
		t.Fatalf("lookup b inside the rate limit: %v, want errUnknownKey", err)
	}
	if got := hits.Load(); got != 1 {
		t.Fatalf("fetches inside the rate limit = %d, want 1", got)
	}

	clock = clock.Add(earlyRefreshGap)
	if _, err := s.lookup(t.Context(), "b"); err != nil {
		t.Fatalf("lookup b after the rate limit: %v", err)
	}
	if got := hits.Load(); got != 2 {
		t.Fatalf("fetches after one early refresh = %d, want 2", got)
	}

	// A burst of forged kids costs no further fetch.
	for _, kid := range []string{"x", "y", "z"} {
		if _, err := s.lookup(t.Context(), kid); !errors.Is(err, errUnknownKey) {
			t.Errorf("lookup %s: %v, want errUnknownKey", kid, err)
		}
	}
	if got := hits.Load(); got != 2 {
		t.Errorf("fetches after forged kids = %d, want 2", got)
	}
	// Known kids never fetch.
	if _, err := s.lookup(t.Context(), "a"); err != nil {
		t.Errorf("lookup a: %v", err)
	}
	if got := hits.Load(); got != 2 {
		t.Errorf("fetches after a known kid = %d, want 2", got)
	}
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	weakRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	ed := edJWK(t, "ed")
	ec := jwkJSON(t, jose.JSONWebKey{Key: &ecPriv.PublicKey, KeyID: "ec", Algorithm: "ES256"})
	ecPrivate := jwkJSON(t, jose.JSONWebKey{Key: ecPriv, KeyID: "ec-private"})
	hmac := jwkJSON(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "hmac"})
	enc := edJWK(t, "enc")
	enc.Use = "enc"
	noKID := edJWK(t, "")
	weak := jwkJSON(t, jose.JSONWebKey{Key: &weakRSA.PublicKey, KeyID: "weak"})
	unknown := json.RawMessage(`{"kty":"XYZ","kid":"odd"}`)

	tests := []struct {
		name     string
		doc      []byte
		wantKIDs []string
		wantErr  bool
	}{
		{name: "usable keys", doc: setJSON(t, jwkJSON(t, ed), ec), wantKIDs: []string{"ec", "ed"}},
		{name: "private key reduced to its public half", doc: setJSON(t, ecPrivate), wantKIDs: []string{"ec-private"}},
		{name: "unusable keys skipped", doc: setJSON(t, jwkJSON(t, ed), hmac, jwkJSON(t, enc), jwkJSON(t, noKID), weak, unknown), wantKIDs: []string{"ed"}},
		{name: "nothing usable", doc: setJSON(t, hmac, weak), wantErr: true},
		{name: "empty set", doc: []byte(`{"keys":[]}`), wantErr: true},
		{name: "not JSON", doc: []byte(`<html>`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys, err := parseJWKS(tt.doc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseJWKS error = %v, wantErr %v", err, tt.wantErr)
			}
			var kids []string
			for kid, ks := range keys {
				kids = append(kids, kid)
				for _, k := range ks {
					if !k.IsPublic() {
						t.Errorf("key %q holds private material", kid)
					}
				}
			}
			slices.Sort(kids)
			if diff := cmp.Diff(tt.wantKIDs, kids); diff != "" {
				t.Errorf("kids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeyFits(t *testing.T) {
	t.Parallel()
	ec256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	ed := edJWK(t, "ed")
	tests := []struct {
		name string
		key  jose.JSONWebKey
		alg  string
		want bool
	}{
		{name: "Ed25519 EdDSA", key: ed, alg: "EdDSA", want: true},
		{name: "Ed25519 ES256", key: ed, alg: "ES256"},
		{name: "P-256 ES256", key: jose.JSONWebKey{Key: &ec256.PublicKey}, alg: "ES256", want: true},
		{name: "P-256 ES384", key: jose.JSONWebKey{Key: &ec256.PublicKey}, alg: "ES384"},
		{name: "P-384 ES384", key: jose.JSONWebKey{Key: &ec384.PublicKey}, alg: "ES384", want: true},
		{name: "RSA RS256", key: jose.JSONWebKey{Key: &rsaKey.PublicKey}, alg: "RS256", want: true},
		{name: "RSA PS256", key: jose.JSONWebKey{Key: &rsaKey.PublicKey}, alg: "PS256", want: true},
		{name: "RSA pinned to RS256 used for PS256", key: jose.JSONWebKey{Key: &rsaKey.PublicKey, Algorithm: "RS256"}, alg: "PS256"},
		{name: "RSA EdDSA", key: jose.JSONWebKey{Key: &rsaKey.PublicKey}, alg: "EdDSA"},
		{name: "RSA HS256", key: jose.JSONWebKey{Key: &rsaKey.PublicKey}, alg: "HS256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := keyFits(tt.key, tt.alg); got != tt.want {
				t.Errorf("keyFits(%s) = %v, want %v", tt.alg, got, tt.want)
			}
		})
	}
}

func TestPolicyLookup(t *testing.T) {
	t.Parallel()
	p := Policy{
		"/a.v1.S/":    {Roles: []string{"ops"}},
		"/a.v1.S/Get": {Public: true},
		"/b.v1.T/Put": {Roles: []string{"admin"}},
	}
	tests := []struct {
		method    string
		want      Rule
		wantFound bool
	}{
		{method: "/a.v1.S/Get", want: Rule{Public: true}, wantFound: true},
		{method: "/a.v1.S/Other", want: Rule{Roles: []string{"ops"}}, wantFound: true},
		{method: "/b.v1.T/Put", want: Rule{Roles: []string{"admin"}}, wantFound: true},
		{method: "/b.v1.T/Get"},
		{method: "/a.v1.Sx/Get"},
		{method: "garbage"},
		{method: ""},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			got, found := p.lookup(tt.method)
			if found != tt.wantFound {
				t.Fatalf("lookup(%q) found = %v, want %v", tt.method, found, tt.wantFound)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lookup(%q) (-want +got):\n%s", tt.method, diff)
			}
		})
	}
}
