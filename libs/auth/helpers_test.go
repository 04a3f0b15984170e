package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/storefront-go/storefront/libs/auth"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

const (
	testIssuer   = "https://issuer.storefront.test"
	testAudience = "storefront"
)

// testKey is a signing key made independently of auth.Signer, so the
// verifier is not only tested against its own minting code.
type testKey struct {
	kid  string
	priv crypto.Signer
	pub  crypto.PublicKey
}

func newEdKey(t *testing.T, kid string) testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate Ed25519 key: %v", err)
	}
	return testKey{kid: kid, priv: priv, pub: pub}
}

func newECKey(t *testing.T, kid string) testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate P-256 key: %v", err)
	}
	return testKey{kid: kid, priv: priv, pub: priv.Public()}
}

func newRSAKey(t *testing.T, kid string) testKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate RSA key: %v", err)
	}
	return testKey{kid: kid, priv: priv, pub: priv.Public()}
}

// jwks encodes the public halves of keys as a JWKS document.
func jwks(t *testing.T, keys ...testKey) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.pub, KeyID: k.kid, Use: "sig"})
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatalf("encode JWKS: %v", err)
	}
	return data
}

// writeFile writes data to path atomically, so a concurrent reload never
// sees a partial file.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("rename %s: %v", tmp, err)
	}
}

func writeJWKSFile(t *testing.T, keys ...testKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, jwks(t, keys...))
	return path
}

// claims returns valid claims for sub, changed by the optional edits.
func claims(sub string, roles []string, edits ...func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":   testIssuer,
		"aud":   testAudience,
		"sub":   sub,
		"iat":   now.Unix(),
		"exp":   now.Add(5 * time.Minute).Unix(),
		"roles": roles,
	}
	for _, e := range edits {
		e(c)
	}
	return c
}

// sign signs c with k under method, putting kid in the header ("" leaves it out).
func sign(t *testing.T, method jwt.SigningMethod, kid string, key any, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s token: %v", method.Alg(), err)
	}
	return s
}

// unsignedToken builds an alg=none token by hand; jwt refuses to make one
// without a special key.
func unsignedToken(t *testing.T, kid string, c jwt.MapClaims) string {
	t.Helper()
	header, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	if err != nil {
		t.Fatalf("encode header: %v", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("encode claims: %v", err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "."
}

func testConfig(jwksFile string) auth.Config {
	return auth.Config{JWKSFile: jwksFile, Issuer: testIssuer, Audience: testAudience}
}

func newAuthenticator(t *testing.T, cfg auth.Config, policy auth.Policy) *auth.Authenticator {
	t.Helper()
	a, err := auth.New(t.Context(), cfg, policy, nil)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

// catalogueStub reports the principal it sees in response headers.
type catalogueStub struct {
	cataloguev1.UnimplementedCatalogueServiceServer
}

func principalHeader(ctx context.Context) metadata.MD {
	anonymous := strconv.FormatBool(auth.Anonymous(ctx))
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return metadata.Pairs("x-authenticated", "false", "x-anonymous", anonymous)
	}
	return metadata.Pairs("x-authenticated", "true", "x-subject", p.Subject, "x-roles", strings.Join(p.Roles, ","), "x-anonymous", anonymous)
}

func (catalogueStub) GetProduct(ctx context.Context, _ *cataloguev1.GetProductRequest) (*cataloguev1.GetProductResponse, error) {
	return &cataloguev1.GetProductResponse{}, grpc.SetHeader(ctx, principalHeader(ctx))
}

func (catalogueStub) CreateProduct(ctx context.Context, _ *cataloguev1.CreateProductRequest) (*cataloguev1.CreateProductResponse, error) {
	return &cataloguev1.CreateProductResponse{}, grpc.SetHeader(ctx, principalHeader(ctx))
}

func (catalogueStub) UpdateProduct(ctx context.Context, _ *cataloguev1.UpdateProductRequest) (*cataloguev1.UpdateProductResponse, error) {
	return &cataloguev1.UpdateProductResponse{}, grpc.SetHeader(ctx, principalHeader(ctx))
}

func (catalogueStub) DeleteProduct(ctx context.Context, _ *cataloguev1.DeleteProductRequest) (*cataloguev1.DeleteProductResponse, error) {
	return &cataloguev1.DeleteProductResponse{}, grpc.SetHeader(ctx, principalHeader(ctx))
}

func (catalogueStub) ListProducts(_ *cataloguev1.ListProductsRequest, stream grpc.ServerStreamingServer[cataloguev1.ListProductsResponse]) error {
	if err := stream.SetHeader(principalHeader(stream.Context())); err != nil {
		return err
	}
	return stream.Send(&cataloguev1.ListProductsResponse{})
}

// startServer serves the catalogue stub and the health service behind a's
// interceptors over an in-memory connection.
func startServer(t *testing.T, a *auth.Authenticator) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(a.StreamServerInterceptor()),
	)
	cataloguev1.RegisterCatalogueServiceServer(srv, catalogueStub{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
