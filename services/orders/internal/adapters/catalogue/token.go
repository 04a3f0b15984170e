package catalogue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/auth"
)

// maxTokenFileBytes bounds what is read from a token file.
const maxTokenFileBytes = 16 << 10

// NewCredentials returns the per-call credentials that carry the orders
// service token to catalogue: the contents of file when it is set, re-read
// whenever the file changes (a rotated Kubernetes secret, say), else the
// fixed token. One of them must be set. Like auth.BearerToken they are
// allowed over plaintext, for loopback and the dev stack.
func NewCredentials(token, file string) (credentials.PerRPCCredentials, error) {
	switch {
	case file != "":
		t := &fileToken{path: file}
		if _, err := t.token(); err != nil {
			return nil, err
		}
		return t, nil
	case token != "":
		return auth.BearerToken(strings.TrimSpace(token)), nil
	}
	return nil, errors.New("catalogue token: set CATALOGUE_TOKEN_FILE or CATALOGUE_TOKEN (a JWT with role service)")
}

// fileToken reads the token from a file, again whenever its size or
// modification time changes. A failed re-read keeps the last good token, so
// a file being replaced does not fail calls.
type fileToken struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	value   string
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t *fileToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := t.token()
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (*fileToken) RequireTransportSecurity() bool { return false }

func (t *fileToken) token() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if err != nil {
		return t.fallback(fmt.Errorf("catalogue token file: %w", err))
	}
	if t.value != "" && fi.ModTime().Equal(t.modTime) && fi.Size() == t.size {
		return t.value, nil
	}
	if fi.Size() > maxTokenFileBytes {
		return t.fallback(fmt.Errorf("catalogue token file %s is larger than %d bytes", t.path, maxTokenFileBytes))
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return t.fallback(fmt.Errorf("catalogue token file: %w", err))
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return t.fallback(fmt.Errorf("catalogue token file %s is empty", t.path))
	}
	t.value, t.modTime, t.size = v, fi.ModTime(), fi.Size()
	return v, nil
}

// fallback returns the last good token, or err when there is none.
func (t *fileToken) fallback(err error) (string, error) {
	if t.value != "" {
		return t.value, nil
	}
	return "", err
}
