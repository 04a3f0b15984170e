package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/broker"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/libs/testenv"
	"github.com/storefront-go/storefront/services/orders/internal/server"
)

const (
	issuer   = "storefront-test"
	audience = "storefront"
	// waitFor bounds every poll for something asynchronous; it only
	// prevents hangs and is never asserted on.
	waitFor = 60 * time.Second
	// pollEvery spaces the polls.
	pollEvery = 50 * time.Millisecond
)

// stack is one test's system: catalogue as a subprocess with its own
// database, orders in process with its own database, both on one NATS
// server, trusting one token issuer.
type stack struct {
	t       *testing.T
	natsURL string
	auth    *testenv.Auth

	// cat is the real catalogue, run from its built binary; a test can
	// kill it and start it again on the same ports and database.
	cat       *testenv.Process
	catalogue cataloguev1.CatalogueServiceClient

	ordersDSN string
	orders    *service.Host
	ordersDB  *pgxpool.Pool
}

// options tune a stack.
type options struct {
	// natsURL is the NATS server; empty means the shared container.
	natsURL string
	// ordersEnv overrides orders' environment.
	ordersEnv map[string]string
	// catalogueEnv overrides catalogue's environment.
	catalogueEnv map[string]string
}

func newStack(t *testing.T, opts options) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	catalogueBin := testenv.BuildBinary(t, catalogueCmd)
	s := &stack{t: t, natsURL: opts.natsURL, auth: testenv.NewAuth(t, issuer, audience)}
	if s.natsURL == "" {
		s.natsURL = sharedNATS.URL()
	}
	tokenFile := filepath.Join(t.TempDir(), "catalogue-token")
	if err := os.WriteFile(tokenFile, []byte(s.auth.Token("orders", "service")), 0o600); err != nil {
		t.Fatalf("write service token: %v", err)
	}

	// Orders first: it provisions the ORDERS stream that catalogue reads.
	s.cat = testenv.NewProcess(t, "catalogue", catalogueBin, testenv.ReplicaEnv(pg.NewDatabase(t), s.natsURL, s.auth, map[string]string{
		"SHUTDOWN_TIMEOUT":     "2s",
		"OUTBOX_POLL_INTERVAL": "50ms",
		"LOG_LEVEL":            "INFO",
	}, opts.catalogueEnv))
	s.ordersDSN = pg.NewDatabase(t)
	cfg := testenv.LoadConfig[server.Config](t, testenv.ReplicaEnv(s.ordersDSN, s.natsURL, s.auth, map[string]string{
		"DATABASE_MAX_CONNS":      "20",
		"OUTBOX_POLL_INTERVAL":    "20ms",
		"OUTBOX_MAX_BACKOFF":      "250ms",
		"OUTBOX_PUBLISH_TIMEOUT":  "1s",
		"CATALOGUE_ADDR":          "passthrough:///" + s.cat.GRPCAddr(),
		"CATALOGUE_TOKEN_FILE":    tokenFile,
		"CATALOGUE_TIMEOUT":       "5s",
		"IDEMPOTENCY_SWEEP_BATCH": "100",
	}, opts.ordersEnv))
	s.orders = testenv.StartReplica(t, "orders", func(ctx context.Context, logger *slog.Logger) (*service.Host, error) {
		return service.New(ctx, server.Spec(), cfg, logger)
	}).Host()
	s.cat.Start()
	s.catalogue = cataloguev1.NewCatalogueServiceClient(testenv.Dial(t, s.cat.GRPCAddr()))

	var err error
	s.ordersDB, err = pgxpool.New(t.Context(), s.ordersDSN)
	if err != nil {
		t.Fatalf("open orders test pool: %v", err)
	}
	t.Cleanup(s.ordersDB.Close)
	return s
}

// ordersClient dials the in-process orders server.
func (s *stack) ordersClient() ordersv1.OrderServiceClient {
	s.t.Helper()
	return ordersv1.NewOrderServiceClient(testenv.Dial(s.t, s.orders.GRPCAddr()))
}

// customer is one authenticated customer of orders.
type customer struct {
	id     string
	client ordersv1.OrderServiceClient
	creds  grpc.CallOption
}

func (s *stack) customer() customer {
	id := "cust-" + uuid.NewString()
	return customer{id: id, client: s.ordersClient(), creds: s.auth.As(id, "customer")}
}

func (s *stack) admin() customer {
	return customer{id: "ops", client: s.ordersClient(), creds: s.auth.As("ops", "admin")}
}

func (c customer) place(ctx context.Context, key string, items ...*ordersv1.OrderItem) (*ordersv1.Order, error) {
	resp, err := c.client.PlaceOrder(ctx, &ordersv1.PlaceOrderRequest{IdempotencyKey: key, Items: items}, c.creds)
	return resp.GetOrder(), err
}

func (c customer) get(ctx context.Context, id string) (*ordersv1.Order, error) {
	resp, err := c.client.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: id}, c.creds)
	return resp.GetOrder(), err
}

func (c customer) list(ctx context.Context, req *ordersv1.ListOrdersRequest) ([]*ordersv1.Order, error) {
	resp, err := c.client.ListOrders(ctx, req, c.creds)
	return resp.GetOrders(), err
}

func item(p *cataloguev1.Product, qty int32) *ordersv1.OrderItem {
	return &ordersv1.OrderItem{ProductId: p.GetId(), Quantity: qty}
}

func newKey() string { return "key-" + uuid.NewString() }

// createProduct seeds a product through catalogue's API as an admin.
func (s *stack) createProduct(name string, priceMinor, stock int64) *cataloguev1.Product {
	s.t.Helper()
	resp, err := s.catalogue.CreateProduct(s.t.Context(), &cataloguev1.CreateProductRequest{
		Sku:        "T-" + strings.ToUpper(uuid.NewString()[:8]),
		Name:       name,
		CategoryId: "test",
		Price:      &cataloguev1.Money{AmountMinor: priceMinor, CurrencyCode: "EUR"},
		StockQty:   stock,
	}, s.auth.As("seeder", "admin"))
	if err != nil {
		s.t.Fatalf("create product %s: %v", name, err)
	}
	return resp.GetProduct()
}

// stockOf reads a product's stock through catalogue's API.
func (s *stack) stockOf(id string) int64 {
	s.t.Helper()
	resp, err := s.catalogue.GetProduct(s.t.Context(), &cataloguev1.GetProductRequest{ProductId: id})
	if err != nil {
		s.t.Fatalf("get product %s: %v", id, err)
	}
	return resp.GetProduct().GetStockQty()
}

// queryInt runs a counting query on the orders database.
func (s *stack) queryInt(sql string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.ordersDB.QueryRow(s.t.Context(), sql, args...).Scan(&n); err != nil {
		s.t.Fatalf("query %q: %v", sql, err)
	}
	return n
}

// pendingEvents counts orders' unpublished outbox rows.
func (s *stack) pendingEvents() int {
	return s.queryInt(`SELECT count(*) FROM outbox_events WHERE published_at IS NULL`)
}

// jetStream connects the test to the stack's NATS server.
func (s *stack) jetStream() jetstream.JetStream {
	s.t.Helper()
	nc, err := nats.Connect(s.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		s.t.Fatalf("connect to nats: %v", err)
	}
	s.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatalf("jetstream: %v", err)
	}
	return js
}

// streamMessage is one message of the ORDERS stream.
type streamMessage struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
}

// ordersMessages returns the ORDERS stream's messages on subject whose
// payload names orderID; decode reads the order id of a payload.
func ordersMessages(t *testing.T, js jetstream.JetStream, subject, orderID string) []streamMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatalf("ORDERS stream: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("ORDERS stream info: %v", err)
	}
	var out []streamMessage
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		if msg.Subject != subject || payloadOrderID(t, subject, msg.Data) != orderID {
			continue
		}
		out = append(out, streamMessage{seq: seq, subject: msg.Subject, header: msg.Header, data: msg.Data})
	}
	return out
}

func payloadOrderID(t *testing.T, subject string, data []byte) string {
	t.Helper()
	var m interface{ GetOrderId() string }
	switch subject {
	case "orders.order.placed":
		e := &ordersv1.OrderPlaced{}
		m = e
		if err := proto.Unmarshal(data, e); err != nil {
			t.Fatalf("decode OrderPlaced: %v", err)
		}
	case "orders.order.cancelled":
		e := &ordersv1.OrderCancelled{}
		m = e
		if err := proto.Unmarshal(data, e); err != nil {
			t.Fatalf("decode OrderCancelled: %v", err)
		}
	default:
		return ""
	}
	return m.GetOrderId()
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, waitFor, pollEvery, what, cond)
}

func code(err error) codes.Code { return status.Code(err) }

// publishCopy republishes msg's payload and type under a new message id,
// as a replayed outbox row past the duplicate window would arrive.
func publishCopy(t *testing.T, js jetstream.JetStream, msg streamMessage) uint64 {
	t.Helper()
	out := nats.NewMsg(msg.subject)
	out.Data = msg.data
	out.Header.Set(broker.HeaderType, msg.header.Get(broker.HeaderType))
	out.Header.Set(broker.HeaderMsgID, uuid.NewString())
	ack, err := js.PublishMsg(t.Context(), out)
	if err != nil {
		t.Fatalf("republish %s: %v", msg.subject, err)
	}
	return ack.Sequence
}
