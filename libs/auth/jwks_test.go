package auth_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/auth"
)

// eventually polls cond every 10ms until it holds, failing after a generous
// bound that only exists to avoid hanging.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for range 2000 {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// jwksServer serves whatever JWKS document was last stored, or a 500 when
// failing is set.
type jwksServer struct {
	doc     atomic.Pointer[[]byte]
	failing atomic.Bool
	hits    atomic.Int64
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.hits.Add(1)
	if s.failing.Load() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(*s.doc.Load())
}

func startJWKSServer(t *testing.T, doc []byte) (*jwksServer, string) {
	t.Helper()
	s := &jwksServer{}
	s.doc.Store(&doc)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL + "/.well-known/jwks.json"
}

func TestJWKSFileLoads(t *testing.T) {
	t.Parallel()
	key := newEdKey(t, "file-key")
	a := newAuthenticator(t, testConfig(writeJWKSFile(t, key)), auth.Policy{})

	got, err := a.Verify(t.Context(), sign(t, jwt.SigningMethodEdDSA, key.kid, key.priv, claims("gina", []string{"admin"})))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Subject != "gina" || !got.HasRole("admin") {
		t.Errorf("Verify = %+v, want subject gina with role admin", got)
	}
}

func TestJWKSFileReload(t *testing.T) {
	t.Parallel()
	oldKey, newKey := newEdKey(t, "2025"), newEdKey(t, "2026")
	path := writeJWKSFile(t, oldKey)
	cfg := testConfig(path)
	cfg.RefreshInterval = 20 * time.Millisecond
	a := newAuthenticator(t, cfg, auth.Policy{})
	oldToken := sign(t, jwt.SigningMethodEdDSA, oldKey.kid, oldKey.priv, claims("hal", nil))
	newToken := sign(t, jwt.SigningMethodEdDSA, newKey.kid, newKey.priv, claims("hal", nil))

	if _, err := a.Verify(t.Context(), oldToken); err != nil {
		t.Fatalf("Verify with the old key before rotation: %v", err)
	}
	writeFile(t, path, jwks(t, newKey))
	eventually(t, "the new key to be loaded from the file", func() bool {
		_, err := a.Verify(t.Context(), newToken)
		return err == nil
	})
	if _, err := a.Verify(t.Context(), oldToken); err == nil {
		t.Error("Verify with the removed key succeeded")
	}
}

func TestJWKSURLRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := newEdKey(t, "k1"), newECKey(t, "k2")
	server, url := startJWKSServer(t, jwks(t, oldKey))
	cfg := auth.Config{JWKSURL: url, Issuer: testIssuer, Audience: testAudience, RefreshInterval: 20 * time.Millisecond}
	a := newAuthenticator(t, cfg, testPolicy())
	conn := startServer(t, a)

	oldToken := "Bearer " + sign(t, jwt.SigningMethodEdDSA, oldKey.kid, oldKey.priv, claims("ivy", []string{"admin"}))
	newToken := "Bearer " + sign(t, jwt.SigningMethodES256, newKey.kid, newKey.priv, claims("ivy", []string{"admin"}))
	if _, err := invoke(t.Context(), conn, "CreateProduct", oldToken); err != nil {
		t.Fatalf("CreateProduct with the old key: %v", err)
	}
	if _, err := invoke(t.Context(), conn, "CreateProduct", newToken); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("CreateProduct with a not yet published key: %v, want Unauthenticated", err)
	}

	rotated := jwks(t, newKey)
	server.doc.Store(&rotated)
	eventually(t, "the rotated key to be accepted", func() bool {
		_, err := invoke(t.Context(), conn, "CreateProduct", newToken)
		return err == nil
	})
	if _, err := invoke(t.Context(), conn, "CreateProduct", oldToken); status.Code(err) != codes.Unauthenticated {
		t.Errorf("CreateProduct with the retired key: %v, want Unauthenticated", err)
	}
}

// syncBuffer lets the refresh goroutine log while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestJWKSRefreshFailureKeepsKeys(t *testing.T) {
	t.Parallel()
	key := newEdKey(t, "stable")
	server, url := startJWKSServer(t, jwks(t, key))
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := auth.Config{JWKSURL: url, Issuer: testIssuer, Audience: testAudience, RefreshInterval: 10 * time.Millisecond}
	a, err := auth.New(t.Context(), cfg, auth.Policy{}, logger)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	t.Cleanup(a.Close)

	server.failing.Store(true)
	hits := server.hits.Load()
	eventually(t, "a failed refresh to be logged", func() bool {
		return server.hits.Load() > hits+1 && strings.Contains(logs.String(), "JWKS refresh failed")
	})
	if !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("refresh failure not logged at WARN:\n%s", logs.String())
	}
	token := sign(t, jwt.SigningMethodEdDSA, key.kid, key.priv, claims("jo", nil))
	if _, err := a.Verify(t.Context(), token); err != nil {
		t.Errorf("Verify after failed refreshes: %v; the last good key set should be kept", err)
	}
}

func TestCloseStopsRefresh(t *testing.T) {
	t.Parallel()
	server, url := startJWKSServer(t, jwks(t, newEdKey(t, "k")))
	cfg := auth.Config{JWKSURL: url, Issuer: testIssuer, Audience: testAudience, RefreshInterval: 5 * time.Millisecond}
	a, err := auth.New(t.Context(), cfg, auth.Policy{}, nil)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	eventually(t, "a background refresh", func() bool { return server.hits.Load() > 1 })
	a.Close()
	a.Close() // idempotent
	// A request cancelled by Close may still reach the server, so allow one.
	after := server.hits.Load()
	time.Sleep(100 * time.Millisecond)
	if got := server.hits.Load(); got > after+1 {
		t.Errorf("JWKS fetched %d more times after Close", got-after)
	}
}
