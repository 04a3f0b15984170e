package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	// maxJWKSSize bounds what a misbehaving endpoint can make us buffer.
	maxJWKSSize = 1 << 20
	// fetchTimeout bounds one JWKS download.
	fetchTimeout = 10 * time.Second
	// earlyRefreshGap is the least time between a fetch and an early one
	// triggered by an unknown kid, so forged kids cannot hammer the issuer.
	earlyRefreshGap = 15 * time.Second
	// minRSABits rejects RSA keys too weak to trust.
	minRSABits = 2048
)

// errUnknownKey means no usable key has the token's kid, even after an
// early refresh.
var errUnknownKey = errors.New("unknown key id")

// fetchFunc returns the raw JWKS document.
type fetchFunc func(ctx context.Context) ([]byte, error)

// fileFetcher reads the JWKS from a file on every call, so a rotated file
// is picked up on the next refresh.
func fileFetcher(path string) fetchFunc {
	path = filepath.Clean(path)
	return func(context.Context) ([]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open JWKS file: %w", err)
		}
		defer func() { _ = f.Close() }()
		return readLimited(f)
	}
}

// httpFetcher downloads the JWKS from url.
func httpFetcher(client *http.Client, url string) fetchFunc {
	return func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("build JWKS request: %w", err)
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("get JWKS: %w", err)
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("get JWKS from %s: unexpected status %s", url, resp.Status)
		}
		return readLimited(resp.Body)
	}
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if len(data) > maxJWKSSize {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSSize)
	}
	return data, nil
}

// keySet holds the current verification keys by kid and refreshes them.
// A failed refresh leaves the previous keys in place.
type keySet struct {
	source   string // file path or URL, for logs
	fetch    fetchFunc
	logger   *slog.Logger
	now      func() time.Time
	earlyGap time.Duration

	// sem is a one-slot semaphore serialising fetches; unlike a mutex,
	// waiting on it respects the request's context.
	sem       chan struct{}
	lastFetch time.Time // guarded by sem

	mu   sync.RWMutex
	keys map[string][]jose.JSONWebKey
}

func newKeySet(source string, fetch fetchFunc, logger *slog.Logger) *keySet {
	return &keySet{
		source:   source,
		fetch:    fetch,
		logger:   logger,
		now:      time.Now,
		earlyGap: earlyRefreshGap,
		sem:      make(chan struct{}, 1),
	}
}

func (s *keySet) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for JWKS refresh: %w", ctx.Err())
	}
}

func (s *keySet) release() { <-s.sem }

// refresh fetches and installs the key set.
func (s *keySet) refresh(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	return s.refreshLocked(ctx)
}

// refreshLocked must be called holding sem.
func (s *keySet) refreshLocked(ctx context.Context) error {
	s.lastFetch = s.now()
	data, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return fmt.Errorf("parse JWKS from %s: %w", s.source, err)
	}
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
	return nil
}

// run refreshes every interval until ctx is done.
func (s *keySet) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.WarnContext(ctx, "JWKS refresh failed; keeping previous keys",
				slog.String("source", s.source), slog.Any("error", err))
		}
	}
}

func (s *keySet) get(kid string) []jose.JSONWebKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys[kid]
}

// lookup returns the keys with kid. An unknown kid triggers one early,
// rate-limited refresh so that a rotated key is found without waiting for
// the next scheduled one.
func (s *keySet) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys := s.get(kid); len(keys) > 0 {
		return keys, nil
	}
	if err := s.refreshEarly(ctx, kid); err != nil {
		s.logger.WarnContext(ctx, "early JWKS refresh failed",
			slog.String("source", s.source), slog.Any("error", err))
	}
	if keys := s.get(kid); len(keys) > 0 {
		return keys, nil
	}
	return nil, errUnknownKey
}

func (s *keySet) refreshEarly(ctx context.Context, kid string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	// Another caller may have refreshed while we waited.
	if len(s.get(kid)) > 0 || s.now().Sub(s.lastFetch) < s.earlyGap {
		return nil
	}
	return s.refreshLocked(ctx)
}

// parseJWKS decodes a JWKS document into public signing keys by kid.
// Keys that cannot be used (unknown type, no kid, encryption keys,
// symmetric or weak keys) are skipped, as RFC 7517 section 5 advises.
func parseJWKS(data []byte) (map[string][]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	keys := make(map[string][]jose.JSONWebKey)
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if pub, ok := usableKey(k); ok {
			keys[pub.KeyID] = append(keys[pub.KeyID], pub)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable signing keys")
	}
	return keys, nil
}

// usableKey returns the public half of k if it can verify signatures.
func usableKey(k jose.JSONWebKey) (jose.JSONWebKey, bool) {
	if k.KeyID == "" || (k.Use != "" && k.Use != "sig") {
		return jose.JSONWebKey{}, false
	}
	pub := k.Public()
	switch key := pub.Key.(type) {
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			return jose.JSONWebKey{}, false
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return jose.JSONWebKey{}, false
	}
	return pub, pub.Valid()
}

// keyFits reports whether k may verify a token signed with alg, so a key
// published for one algorithm is never used with another.
func keyFits(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
		return false
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
