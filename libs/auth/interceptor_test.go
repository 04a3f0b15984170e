package auth_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/auth"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

const svc = "/catalogue.v1.CatalogueService/"

func testPolicy() auth.Policy {
	return auth.Policy{
		svc + "GetProduct":             {Public: true},
		svc + "CreateProduct":          {Roles: []string{"admin"}},
		svc + "UpdateProduct":          {},
		svc + "ListProducts":           {Roles: []string{"admin", "reader"}},
		"/grpc.health.v1.Health/":      {Roles: []string{"ops"}},
		"/grpc.health.v1.Health/Check": {Public: true},
		// DeleteProduct is deliberately missing: deny by default.
	}
}

// seen is what the handler reported about the principal.
type seen struct {
	Authenticated string
	Subject       string
	Roles         string
	// Anonymous is "true" for a public call made without a token.
	Anonymous string
}

func seenFrom(md metadata.MD) seen {
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return seen{Authenticated: first("x-authenticated"), Subject: first("x-subject"), Roles: first("x-roles"), Anonymous: first("x-anonymous")}
}

// invoke calls rpc with the given raw authorization header values and
// returns the handler's report.
func invoke(ctx context.Context, conn *grpc.ClientConn, rpc string, authz ...string) (seen, error) {
	kv := make([]string, 0, 2*len(authz))
	for _, v := range authz {
		kv = append(kv, "authorization", v)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	var md metadata.MD
	cat := cataloguev1.NewCatalogueServiceClient(conn)
	var err error
	switch rpc {
	case "GetProduct":
		_, err = cat.GetProduct(ctx, &cataloguev1.GetProductRequest{}, grpc.Header(&md))
	case "CreateProduct":
		_, err = cat.CreateProduct(ctx, &cataloguev1.CreateProductRequest{}, grpc.Header(&md))
	case "UpdateProduct":
		_, err = cat.UpdateProduct(ctx, &cataloguev1.UpdateProductRequest{}, grpc.Header(&md))
	case "DeleteProduct":
		_, err = cat.DeleteProduct(ctx, &cataloguev1.DeleteProductRequest{}, grpc.Header(&md))
	case "Health/Check":
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return seen{}, err
	case "Health/List":
		_, err = healthpb.NewHealthClient(conn).List(ctx, &healthpb.HealthListRequest{})
		return seen{}, err
	default:
		return seen{}, errors.New("unknown rpc " + rpc)
	}
	return seenFrom(md), err
}

func TestUnaryInterceptor(t *testing.T) {
	t.Parallel()
	ed := newEdKey(t, "ed")
	ec := newECKey(t, "ec")
	rs := newRSAKey(t, "rsa")
	impostor := newEdKey(t, "ed") // same kid, different key
	ghost := newEdKey(t, "ghost") // kid not in the JWKS

	a := newAuthenticator(t, testConfig(writeJWKSFile(t, ed, ec, rs)), testPolicy())
	conn := startServer(t, a)

	bearer := func(tok string) string { return "Bearer " + tok }
	edToken := func(sub string, roles []string, edits ...func(jwt.MapClaims)) string {
		return bearer(sign(t, jwt.SigningMethodEdDSA, ed.kid, ed.priv, claims(sub, roles, edits...)))
	}
	admin := edToken("alice", []string{"admin"})
	reader := edToken("bob", []string{"reader"})
	now := time.Now()
	edPub, _ := ed.pub.(ed25519.PublicKey)

	tests := []struct {
		name    string
		rpc     string
		authz   []string
		want    codes.Code
		wantMsg string // checked when set
		wantP   seen   // checked when the call succeeds
	}{
		// Public method.
		{name: "public without token", rpc: "GetProduct", want: codes.OK, wantP: seen{Authenticated: "false", Anonymous: "true"}},
		{name: "public with valid token attaches principal", rpc: "GetProduct", authz: []string{reader}, want: codes.OK,
			wantP: seen{Anonymous: "false", Authenticated: "true", Subject: "bob", Roles: "reader"}},
		{name: "public with bad token", rpc: "GetProduct", authz: []string{"Bearer garbage"}, want: codes.Unauthenticated, wantMsg: "invalid token"},
		{name: "public with expired token", rpc: "GetProduct", want: codes.Unauthenticated,
			authz: []string{edToken("bob", nil, func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })}},

		// Header handling.
		{name: "no token", rpc: "CreateProduct", want: codes.Unauthenticated, wantMsg: "missing bearer token"},
		{name: "basic scheme", rpc: "CreateProduct", authz: []string{"Basic YWxpY2U6c2VjcmV0"}, want: codes.Unauthenticated, wantMsg: "malformed authorization header"},
		{name: "scheme without token", rpc: "CreateProduct", authz: []string{"Bearer "}, want: codes.Unauthenticated},
		{name: "two authorization headers", rpc: "CreateProduct", authz: []string{admin, admin}, want: codes.Unauthenticated},
		{name: "lower-case scheme", rpc: "CreateProduct", authz: []string{"bearer " + admin[len("Bearer "):]}, want: codes.OK,
			wantP: seen{Anonymous: "false", Authenticated: "true", Subject: "alice", Roles: "admin"}},
		{name: "upper-case scheme", rpc: "CreateProduct", authz: []string{"BEARER " + admin[len("Bearer "):]}, want: codes.OK,
			wantP: seen{Anonymous: "false", Authenticated: "true", Subject: "alice", Roles: "admin"}},

		// Token validity.
		{name: "malformed token", rpc: "CreateProduct", authz: []string{"Bearer not.a.jwt"}, want: codes.Unauthenticated, wantMsg: "invalid token"},
		{name: "expired", rpc: "CreateProduct", want: codes.Unauthenticated, wantMsg: "token expired",
			authz: []string{edToken("alice", []string{"admin"}, func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() })}},
		{name: "expired within leeway", rpc: "CreateProduct", want: codes.OK, wantP: seen{Anonymous: "false", Authenticated: "true", Subject: "alice", Roles: "admin"},
			authz: []string{edToken("alice", []string{"admin"}, func(c jwt.MapClaims) { c["exp"] = now.Add(-5 * time.Second).Unix() })}},
		{name: "not yet valid", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{edToken("alice", []string{"admin"}, func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() })}},
		{name: "no exp", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{edToken("alice", []string{"admin"}, func(c jwt.MapClaims) { delete(c, "exp") })}},
		{name: "no sub", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{edToken("alice", []string{"admin"}, func(c jwt.MapClaims) { delete(c, "sub") })}},
		{name: "wrong audience", rpc: "CreateProduct", want: codes.Unauthenticated, wantMsg: "invalid token",
			authz: []string{edToken("alice", []string{"admin"}, func(c jwt.MapClaims) { c["aud"] = "someone-else" })}},
		{name: "no audience", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{edToken("alice", []string{"admin"}, func(c jwt.MapClaims) { delete(c, "aud") })}},
		{name: "audience list containing ours", rpc: "CreateProduct", want: codes.OK, wantP: seen{Anonymous: "false", Authenticated: "true", Subject: "alice", Roles: "admin"},
			authz: []string{edToken("alice", []string{"admin"}, func(c jwt.MapClaims) { c["aud"] = []string{"other", testAudience} })}},
		{name: "wrong issuer", rpc: "CreateProduct", want: codes.Unauthenticated, wantMsg: "invalid token",
			authz: []string{edToken("alice", []string{"admin"}, func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })}},
		{name: "roles not a list", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{edToken("alice", nil, func(c jwt.MapClaims) { c["roles"] = "admin" })}},

		// Signatures, algorithms and keys.
		{name: "alg none", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{bearer(unsignedToken(t, ed.kid, claims("alice", []string{"admin"})))}},
		{name: "HS256 keyed with the public key bytes", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{bearer(sign(t, jwt.SigningMethodHS256, ed.kid, []byte(edPub), claims("alice", []string{"admin"})))}},
		{name: "HS256 keyed with the JWKS document", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{bearer(sign(t, jwt.SigningMethodHS256, ed.kid, jwks(t, ed), claims("alice", []string{"admin"})))}},
		{name: "unknown kid", rpc: "CreateProduct", want: codes.Unauthenticated, wantMsg: "invalid token",
			authz: []string{bearer(sign(t, jwt.SigningMethodEdDSA, ghost.kid, ghost.priv, claims("alice", []string{"admin"})))}},
		{name: "no kid", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{bearer(sign(t, jwt.SigningMethodEdDSA, "", ed.priv, claims("alice", []string{"admin"})))}},
		{name: "same kid other key", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{bearer(sign(t, jwt.SigningMethodEdDSA, impostor.kid, impostor.priv, claims("alice", []string{"admin"})))}},
		{name: "tampered payload", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{tamper(t, reader, claims("bob", []string{"admin"}))}},
		{name: "key of another type under kid", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{bearer(sign(t, jwt.SigningMethodES256, ed.kid, ec.priv, claims("alice", []string{"admin"})))}},
		{name: "algorithm not pinned", rpc: "CreateProduct", want: codes.Unauthenticated,
			authz: []string{bearer(sign(t, jwt.SigningMethodPS256, rs.kid, rs.priv, claims("alice", []string{"admin"})))}},
		{name: "ES256", rpc: "CreateProduct", want: codes.OK, wantP: seen{Anonymous: "false", Authenticated: "true", Subject: "carol", Roles: "admin"},
			authz: []string{bearer(sign(t, jwt.SigningMethodES256, ec.kid, ec.priv, claims("carol", []string{"admin"})))}},
		{name: "RS256", rpc: "CreateProduct", want: codes.OK, wantP: seen{Anonymous: "false", Authenticated: "true", Subject: "dave", Roles: "viewer,admin"},
			authz: []string{bearer(sign(t, jwt.SigningMethodRS256, rs.kid, rs.priv, claims("dave", []string{"viewer", "admin"})))}},

		// Authorization.
		{name: "missing role", rpc: "CreateProduct", authz: []string{reader}, want: codes.PermissionDenied, wantMsg: "permission denied"},
		{name: "no roles claim", rpc: "CreateProduct", want: codes.PermissionDenied,
			authz: []string{edToken("eve", nil, func(c jwt.MapClaims) { delete(c, "roles") })}},
		{name: "any authenticated caller", rpc: "UpdateProduct", authz: []string{edToken("eve", nil)}, want: codes.OK,
			wantP: seen{Anonymous: "false", Authenticated: "true", Subject: "eve"}},
		{name: "any authenticated caller without token", rpc: "UpdateProduct", want: codes.Unauthenticated},
		{name: "not in policy with token", rpc: "DeleteProduct", authz: []string{admin}, want: codes.PermissionDenied},
		{name: "not in policy without token", rpc: "DeleteProduct", want: codes.Unauthenticated},
		{name: "not in policy with bad token", rpc: "DeleteProduct", authz: []string{"Bearer x"}, want: codes.Unauthenticated},
		{name: "exact public entry beats service prefix", rpc: "Health/Check", want: codes.OK},
		{name: "service prefix without token", rpc: "Health/List", want: codes.Unauthenticated},
		{name: "service prefix without role", rpc: "Health/List", authz: []string{admin}, want: codes.PermissionDenied},
		{name: "service prefix with role", rpc: "Health/List", authz: []string{edToken("ops-bot", []string{"ops"})}, want: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			got, err := invoke(ctx, conn, tt.rpc, tt.authz...)
			st := status.Convert(err)
			if st.Code() != tt.want {
				t.Fatalf("%s: code = %v (%q), want %v", tt.rpc, st.Code(), st.Message(), tt.want)
			}
			if tt.wantMsg != "" && st.Message() != tt.wantMsg {
				t.Errorf("%s: message = %q, want %q", tt.rpc, st.Message(), tt.wantMsg)
			}
			if err == nil && !strings.HasPrefix(tt.rpc, "Health/") {
				if diff := cmp.Diff(tt.wantP, got); diff != "" {
					t.Errorf("%s: principal seen by handler (-want +got):\n%s", tt.rpc, diff)
				}
			}
		})
	}
}

// tamper swaps the payload of a signed "Bearer" token, keeping its
// header and signature.
func tamper(t *testing.T, bearerToken string, c jwt.MapClaims) string {
	t.Helper()
	orig := strings.Split(strings.TrimPrefix(bearerToken, "Bearer "), ".")
	forged := strings.Split(unsignedToken(t, "", c), ".")
	if len(orig) != 3 || len(forged) != 3 {
		t.Fatalf("tokens must have three segments: %q, %q", orig, forged)
	}
	return "Bearer " + strings.Join([]string{orig[0], forged[1], orig[2]}, ".")
}

func TestStreamInterceptor(t *testing.T) {
	t.Parallel()
	ed := newEdKey(t, "ed")
	a := newAuthenticator(t, testConfig(writeJWKSFile(t, ed)), testPolicy())
	conn := startServer(t, a)
	token := func(roles ...string) string {
		return sign(t, jwt.SigningMethodEdDSA, ed.kid, ed.priv, claims("frank", roles))
	}

	tests := []struct {
		name  string
		opts  []grpc.CallOption
		want  codes.Code
		wantP seen
	}{
		{name: "no token", want: codes.Unauthenticated},
		{name: "invalid token", opts: []grpc.CallOption{grpc.PerRPCCredentials(auth.BearerToken("nope"))}, want: codes.Unauthenticated},
		{name: "missing role", opts: []grpc.CallOption{grpc.PerRPCCredentials(auth.BearerToken(token("viewer")))}, want: codes.PermissionDenied},
		{name: "with role", opts: []grpc.CallOption{grpc.PerRPCCredentials(auth.BearerToken(token("reader")))}, want: codes.OK,
			wantP: seen{Anonymous: "false", Authenticated: "true", Subject: "frank", Roles: "reader"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			stream, err := cataloguev1.NewCatalogueServiceClient(conn).ListProducts(ctx, &cataloguev1.ListProductsRequest{}, tt.opts...)
			if err != nil {
				t.Fatalf("ListProducts: %v", err)
			}
			_, err = stream.Recv()
			if got := status.Code(err); got != tt.want {
				t.Fatalf("Recv: code = %v (%v), want %v", got, err, tt.want)
			}
			if tt.want != codes.OK {
				return
			}
			md, err := stream.Header()
			if err != nil {
				t.Fatalf("Header: %v", err)
			}
			if diff := cmp.Diff(tt.wantP, seenFrom(md)); diff != "" {
				t.Errorf("principal seen by handler (-want +got):\n%s", diff)
			}
			if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
				t.Errorf("second Recv: %v, want io.EOF", err)
			}
		})
	}

	t.Run("service prefix applies to streams", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{},
			grpc.PerRPCCredentials(auth.BearerToken(token("reader"))))
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		if _, err := stream.Recv(); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("Recv: %v, want PermissionDenied", err)
		}
	})
}
