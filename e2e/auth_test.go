package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/testenv"
)

// Scenario 11: every RPC that needs a token refuses none, a malformed one,
// an expired one, one signed by another key and one with the wrong role;
// the right token gets past auth; public RPCs stay public.
func TestAuthAtTheEdge(t *testing.T) {
	st := needStack(t)
	other, err := auth.NewSigner("e2e") // same kid, another key
	if err != nil {
		t.Fatal(err)
	}
	mint := func(s *auth.Signer, c auth.TokenClaims) string {
		c.Issuer, c.Audience = issuer, audience
		if c.TTL == 0 {
			c.TTL = 10 * time.Minute
		}
		tok, err := s.Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	type rpc struct {
		svc    *service
		method string
		roles  []string // nil: public
	}
	rpcs := []rpc{
		{st.catalogue, "/catalogue.v1.CatalogueService/CreateProduct", []string{"admin"}},
		{st.catalogue, "/catalogue.v1.CatalogueService/AdjustStock", []string{"admin"}},
		{st.catalogue, "/catalogue.v1.CatalogueService/ReserveStock", []string{"service"}},
		{st.orders, "/orders.v1.OrderService/PlaceOrder", []string{"customer"}},
		{st.orders, "/orders.v1.OrderService/ListOrders", []string{"customer"}},
		{st.orders, "/orders.v1.OrderService/CancelOrder", []string{"customer"}},
		{st.analytics, "/analytics.v1.AnalyticsService/GetProductStats", []string{"analyst"}},
		{st.analytics, "/analytics.v1.AnalyticsService/TopProducts", []string{"analyst"}},
		{st.catalogue, "/catalogue.v1.CatalogueService/GetProduct", nil},
		{st.catalogue, "/catalogue.v1.CatalogueService/SearchProducts", nil},
		{st.analytics, "/analytics.v1.AnalyticsService/TrackEvent", nil},
		{st.orders, "/grpc.health.v1.Health/Check", nil},
	}
	bad := []struct {
		name  string
		token string
	}{
		{"malformed", "not-a-jwt"},
		{"expired", mint(st.signer, auth.TokenClaims{Subject: "eve", Roles: []string{"admin", "customer", "analyst", "service"}, IssuedAt: time.Now().Add(-time.Hour)})},
		{"another key", mint(other, auth.TokenClaims{Subject: "eve", Roles: []string{"admin", "customer", "analyst", "service"}})},
		{"another issuer", func() string {
			tok, err := st.signer.Mint(auth.TokenClaims{Subject: "eve", Roles: []string{"admin"}, Issuer: "elsewhere", Audience: audience, TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}()},
	}
	conns := map[string]*grpc.ClientConn{}
	for _, svc := range st.services() {
		conns[svc.name] = dial(t, svc.grpc)
	}
	call := func(r rpc, token string) codes.Code {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		opts := []grpc.CallOption{grpc.ForceCodec(testenv.RawCodec{})}
		if token != "" {
			opts = append(opts, bearer(token))
		}
		in, out := []byte(nil), []byte(nil)
		return status.Code(conns[r.svc.name].Invoke(ctx, r.method, &in, &out, opts...))
	}
	checked := 0
	for _, r := range rpcs {
		expect := func(what, token string, want ...codes.Code) {
			t.Helper()
			checked++
			if got := call(r, token); !slices.Contains(want, got) {
				t.Errorf("%s with %s: %v, want %v", r.method, what, got, want)
			}
		}
		// Past auth, an empty request is refused by validation or served.
		past := []codes.Code{codes.OK, codes.InvalidArgument, codes.NotFound}
		if r.roles == nil {
			expect("no token", "", past...)
		} else {
			expect("no token", "", codes.Unauthenticated)
			expect("the wrong role", mint(st.signer, auth.TokenClaims{Subject: "mallory", Roles: []string{"nobody"}}), codes.PermissionDenied)
			expect("the right role", mint(st.signer, auth.TokenClaims{Subject: "alice", Roles: r.roles}), past...)
		}
		for _, b := range bad {
			// A bad token is refused even where none is needed.
			expect(b.name+" token", b.token, codes.Unauthenticated)
		}
	}
	reportf("11 auth", "every refusal right", "%d calls: %d RPCs × none, malformed, expired, another key, another issuer, wrong role, right role", checked, len(rpcs))
}
