package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/auth"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

// sys is the stack shared by every test in the package; TestMain owns it.
var sys *stack

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "storefront-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	st, cleanup, err := startStack(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start stack:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	sys = st
	// go test's -timeout kills the binary without running deferred code;
	// remove the containers shortly before that happens.
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && d > time.Minute {
			time.AfterFunc(d-30*time.Second, func() {
				fmt.Fprintln(os.Stderr, "e2e: the test timeout is near; removing the containers")
				cleanup()
			})
		}
	}
	code := m.Run()
	if err := writeSummary(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: summary:", err)
	}
	cleanup()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func needStack(t *testing.T) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test; needs Docker and the service images")
	}
	return sys
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func bearer(tok string) grpc.CallOption { return grpc.PerRPCCredentials(auth.BearerToken(tok)) }

func TestServicesServeHealthOnBothPorts(t *testing.T) {
	st := needStack(t)
	for _, svc := range st.services() {
		t.Run(svc.name, func(t *testing.T) {
			resp, err := healthpb.NewHealthClient(dial(t, svc.grpc)).Check(t.Context(), &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health = %v", resp.GetStatus())
			}
			if err := probeReady(t.Context(), svc.http); err != nil {
				t.Error(err)
			}
		})
	}
}

// createProduct adds a product with a unique sku through the admin API.
func createProduct(t *testing.T, st *stack, stock int64, priceMinor int64) *cataloguev1.Product {
	t.Helper()
	client := cataloguev1.NewCatalogueServiceClient(dial(t, st.catalogue.grpc))
	sku := "E2E-" + strings.ToUpper(strings.ReplaceAll(uuid.NewString()[:13], "-", ""))
	resp, err := client.CreateProduct(t.Context(), &cataloguev1.CreateProductRequest{
		Sku: sku, Name: "E2E lamp " + sku, Description: "A lamp for end-to-end tests", CategoryId: "e2e",
		Price: &cataloguev1.Money{AmountMinor: priceMinor, CurrencyCode: "EUR"}, StockQty: stock,
	}, bearer(st.token(t, "e2e-admin", "admin")))
	if err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	return resp.GetProduct()
}

func stockOf(t *testing.T, st *stack, id string) int64 {
	t.Helper()
	client := cataloguev1.NewCatalogueServiceClient(dial(t, st.catalogue.grpc))
	resp, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: id})
	if err != nil {
		t.Fatalf("GetProduct: %v", err)
	}
	return resp.GetProduct().GetStockQty()
}

// connectPost calls a unary RPC the way curl would: Connect JSON over HTTP.
func connectPost(t *testing.T, hostPort, procedure, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+hostPort+procedure, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func TestCatalogueOverConnectJSON(t *testing.T) {
	st := needStack(t)
	p := createProduct(t, st, 4, 1250)

	code, body := connectPost(t, st.catalogue.http, "/catalogue.v1.CatalogueService/GetProduct", "", `{"productId":"`+p.GetId()+`"}`)
	if code != http.StatusOK {
		t.Fatalf("GetProduct over Connect: %d %v", code, body)
	}
	product, _ := body["product"].(map[string]any)
	if product["sku"] != p.GetSku() {
		t.Errorf("sku = %v, want %s", product["sku"], p.GetSku())
	}

	code, body = connectPost(t, st.catalogue.http, "/catalogue.v1.CatalogueService/GetProduct", "", `{"productId":"nope"}`)
	if code != http.StatusBadRequest || body["code"] != "invalid_argument" {
		t.Errorf("bad id: %d %v, want 400 invalid_argument", code, body)
	}
	if !strings.Contains(fmt.Sprint(body["details"]), "google.rpc.BadRequest") {
		t.Errorf("bad id: no BadRequest details in %v", body)
	}

	code, body = connectPost(t, st.catalogue.http, "/catalogue.v1.CatalogueService/DeleteProduct", "", `{"productId":"`+p.GetId()+`"}`)
	if code != http.StatusUnauthorized || body["code"] != "unauthenticated" {
		t.Errorf("delete without token: %d %v, want 401 unauthenticated", code, body)
	}
	code, body = connectPost(t, st.catalogue.http, "/catalogue.v1.CatalogueService/DeleteProduct", st.token(t, "mallory", "customer"), `{"productId":"`+p.GetId()+`"}`)
	if code != http.StatusForbidden || body["code"] != "permission_denied" {
		t.Errorf("delete as customer: %d %v, want 403 permission_denied", code, body)
	}
}

func TestPlaceOrderReservesStockIdempotently(t *testing.T) {
	st := needStack(t)
	p := createProduct(t, st, 5, 999)
	orders := ordersv1.NewOrderServiceClient(dial(t, st.orders.grpc))
	alice := bearer(st.token(t, "alice", "customer"))

	req := &ordersv1.PlaceOrderRequest{IdempotencyKey: "e2e-" + uuid.NewString(), Items: []*ordersv1.OrderItem{{ProductId: p.GetId(), Quantity: 2}}}
	first, err := orders.PlaceOrder(t.Context(), req, alice)
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	order := first.GetOrder()
	if order.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Errorf("status = %v, want CONFIRMED", order.GetStatus())
	}
	if order.GetTotal().GetAmountMinor() != 2*999 || order.GetTotal().GetCurrencyCode() != "EUR" {
		t.Errorf("total = %v, want 1998 EUR", order.GetTotal())
	}
	if got := stockOf(t, st, p.GetId()); got != 3 {
		t.Errorf("stock after order = %d, want 3", got)
	}

	again, err := orders.PlaceOrder(t.Context(), req, alice)
	if err != nil {
		t.Fatalf("repeat PlaceOrder: %v", err)
	}
	if again.GetOrder().GetId() != order.GetId() {
		t.Errorf("repeat gave order %s, want %s", again.GetOrder().GetId(), order.GetId())
	}
	if got := stockOf(t, st, p.GetId()); got != 3 {
		t.Errorf("stock after repeat = %d, want 3", got)
	}

	changed := &ordersv1.PlaceOrderRequest{IdempotencyKey: req.GetIdempotencyKey(), Items: []*ordersv1.OrderItem{{ProductId: p.GetId(), Quantity: 1}}}
	if _, err := orders.PlaceOrder(t.Context(), changed, alice); status.Code(err) != codes.FailedPrecondition && status.Code(err) != codes.InvalidArgument {
		t.Errorf("same key, other body: %v, want FAILED_PRECONDITION or INVALID_ARGUMENT", err)
	}

	_, err = orders.GetOrder(t.Context(), &ordersv1.GetOrderRequest{OrderId: order.GetId()}, bearer(st.token(t, "bob", "customer")))
	if c := status.Code(err); c != codes.NotFound && c != codes.PermissionDenied {
		t.Errorf("bob reading alice's order: %v, want NOT_FOUND or PERMISSION_DENIED", err)
	}

	cancelled, err := orders.CancelOrder(t.Context(), &ordersv1.CancelOrderRequest{OrderId: order.GetId()}, alice)
	if err != nil {
		t.Fatalf("CancelOrder: %v", err)
	}
	if cancelled.GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Errorf("status after cancel = %v", cancelled.GetOrder().GetStatus())
	}
	// Catalogue consumes OrderCancelled and releases the reservation.
	deadline := time.Now().Add(30 * time.Second)
	for stockOf(t, st, p.GetId()) != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("stock after cancel = %d, want 5", stockOf(t, st, p.GetId()))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestInsufficientStockLeavesNothingBehind(t *testing.T) {
	st := needStack(t)
	p := createProduct(t, st, 1, 500)
	orders := ordersv1.NewOrderServiceClient(dial(t, st.orders.grpc))
	_, err := orders.PlaceOrder(t.Context(), &ordersv1.PlaceOrderRequest{
		IdempotencyKey: "e2e-" + uuid.NewString(),
		Items:          []*ordersv1.OrderItem{{ProductId: p.GetId(), Quantity: 3}},
	}, bearer(st.token(t, "carol", "customer")))
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("PlaceOrder beyond stock: %v, want FAILED_PRECONDITION", err)
	}
	if !strings.Contains(status.Convert(err).Message(), p.GetId()) && !strings.Contains(status.Convert(err).Message(), p.GetSku()) {
		t.Errorf("message %q names neither the product id nor the sku", status.Convert(err).Message())
	}
	if got := stockOf(t, st, p.GetId()); got != 1 {
		t.Errorf("stock = %d, want 1", got)
	}
	list, err := orders.ListOrders(t.Context(), &ordersv1.ListOrdersRequest{}, bearer(st.token(t, "carol", "customer")))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.GetOrders()); n != 0 {
		t.Errorf("carol has %d orders, want 0", n)
	}
}

// Each image's binary carries the version, commit and build time that
// make images stamped into it, and the commit matches the image's label.
func TestVersionOfEachImage(t *testing.T) {
	st := needStack(t)
	for _, svc := range st.services() {
		t.Run(svc.name, func(t *testing.T) {
			info, err := svc.ctr.Inspect(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			revision := info.Config.Labels["org.opencontainers.image.revision"]
			if revision == "" {
				t.Fatal("image has no revision label")
			}
			code, out, err := svc.ctr.Exec(t.Context(), []string{"/" + svc.name, "version"}, tcexec.Multiplexed())
			if err != nil || code != 0 {
				t.Fatalf("%s version: exit %d, %v", svc.name, code, err)
			}
			b, err := io.ReadAll(out)
			if err != nil {
				t.Fatal(err)
			}
			line := strings.TrimSpace(string(b))
			if !strings.HasPrefix(line, svc.name+" ") || strings.HasPrefix(line, svc.name+" dev ") {
				t.Errorf("version = %q; want %q followed by a stamped version, not dev", line, svc.name)
			}
			if !strings.Contains(line, "(commit "+revision+", built 20") {
				t.Errorf("version = %q; want commit %s and a build time", line, revision)
			}
		})
	}
}
