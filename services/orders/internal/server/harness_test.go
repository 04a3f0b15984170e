package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/config"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
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
// server, trusting one token signer.
type stack struct {
	t        *testing.T
	natsURL  string
	jwksFile string
	signer   *auth.Signer

	cat *catalogueProc

	ordersDSN string
	orders    *server.Server
	ordersDB  *pgxpool.Pool
	logs      *syncBuffer
}

// options tune a stack.
type options struct {
	// natsURL is the NATS server; empty means the shared container.
	natsURL string
	// ordersEnv overrides orders' environment.
	ordersEnv map[string]string
}

func newStack(t *testing.T, opts options) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	if catalogueBuildErr != nil {
		t.Fatalf("the catalogue binary could not be built, so orders cannot be tested against it: %v", catalogueBuildErr)
	}
	s := &stack{t: t, natsURL: opts.natsURL, logs: &syncBuffer{}}
	if s.natsURL == "" {
		s.natsURL = sharedNATS.URL()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("orders logs:\n%s", s.logs.tail(200))
		}
	})

	signer, err := auth.NewSigner("test-key")
	if err != nil {
		t.Fatalf("new signer: %v", err)
	}
	s.signer = signer
	jwks, err := signer.JWKS()
	if err != nil {
		t.Fatalf("jwks: %v", err)
	}
	dir := t.TempDir()
	s.jwksFile = filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(s.jwksFile, jwks, 0o600); err != nil {
		t.Fatalf("write jwks: %v", err)
	}
	tokenFile := filepath.Join(dir, "catalogue-token")
	if err := os.WriteFile(tokenFile, []byte(s.mint("orders", "service")), 0o600); err != nil {
		t.Fatalf("write service token: %v", err)
	}

	// Orders first: it provisions the ORDERS stream that catalogue reads.
	s.cat = newCatalogueProc(t, pg.NewDatabase(t), s.natsURL, s.jwksFile)
	s.ordersDSN = pg.NewDatabase(t)
	environ := map[string]string{
		"DATABASE_URL":            s.ordersDSN,
		"DATABASE_MAX_CONNS":      "20",
		"NATS_URL":                s.natsURL,
		"AUTH_JWKS_FILE":          s.jwksFile,
		"AUTH_ISSUER":             issuer,
		"AUTH_AUDIENCE":           audience,
		"GRPC_ADDR":               "127.0.0.1:0",
		"HTTP_ADDR":               "127.0.0.1:0",
		"ADMIN_ADDR":              "127.0.0.1:0",
		"SHUTDOWN_TIMEOUT":        "5s",
		"OUTBOX_POLL_INTERVAL":    "20ms",
		"OUTBOX_MAX_BACKOFF":      "250ms",
		"OUTBOX_PUBLISH_TIMEOUT":  "1s",
		"CATALOGUE_ADDR":          "passthrough:///" + s.cat.grpcAddr,
		"CATALOGUE_TOKEN_FILE":    tokenFile,
		"CATALOGUE_TIMEOUT":       "5s",
		"IDEMPOTENCY_SWEEP_BATCH": "100",
	}
	maps.Copy(environ, opts.ordersEnv)
	cfg, err := config.LoadWithEnv[server.Config](environ)
	if err != nil {
		t.Fatalf("load orders config: %v", err)
	}
	s.startOrders(cfg)
	s.cat.start()

	s.ordersDB, err = pgxpool.New(t.Context(), s.ordersDSN)
	if err != nil {
		t.Fatalf("open orders test pool: %v", err)
	}
	t.Cleanup(s.ordersDB.Close)
	return s
}

func (s *stack) startOrders(cfg server.Config) {
	t := s.t
	t.Helper()
	logger := newTestLogger(s.logs)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	srv, err := server.New(ctx, cfg, logger)
	if err != nil {
		cancel()
		t.Fatalf("new orders server: %v", err)
	}
	if err := srv.Listen(); err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("orders run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("orders did not stop within 30s")
		}
	})
	s.orders = srv
}

// mint returns a token for subject with roles.
func (s *stack) mint(subject string, roles ...string) string {
	s.t.Helper()
	tok, err := s.signer.Mint(auth.TokenClaims{Subject: subject, Roles: roles, Issuer: issuer, Audience: audience, TTL: time.Hour})
	if err != nil {
		s.t.Fatalf("mint token: %v", err)
	}
	return tok
}

// as returns a call option that authenticates as subject with roles.
func (s *stack) as(subject string, roles ...string) grpc.CallOption {
	return grpc.PerRPCCredentials(auth.BearerToken(s.mint(subject, roles...)))
}

// ordersClient dials the in-process orders server.
func (s *stack) ordersClient() ordersv1.OrderServiceClient {
	s.t.Helper()
	conn, err := grpc.NewClient(s.orders.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.t.Fatalf("dial orders: %v", err)
	}
	s.t.Cleanup(func() { _ = conn.Close() })
	return ordersv1.NewOrderServiceClient(conn)
}

// customer is one authenticated customer of orders.
type customer struct {
	id     string
	client ordersv1.OrderServiceClient
	creds  grpc.CallOption
}

func (s *stack) customer() customer {
	id := "cust-" + uuid.NewString()
	return customer{id: id, client: s.ordersClient(), creds: s.as(id, "customer")}
}

func (s *stack) admin() customer {
	return customer{id: "ops", client: s.ordersClient(), creds: s.as("ops", "admin")}
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
	resp, err := s.cat.client().CreateProduct(s.t.Context(), &cataloguev1.CreateProductRequest{
		Sku:        "T-" + strings.ToUpper(uuid.NewString()[:8]),
		Name:       name,
		CategoryId: "test",
		Price:      &cataloguev1.Money{AmountMinor: priceMinor, CurrencyCode: "EUR"},
		StockQty:   stock,
	}, s.as("seeder", "admin"))
	if err != nil {
		s.t.Fatalf("create product %s: %v", name, err)
	}
	return resp.GetProduct()
}

// stockOf reads a product's stock through catalogue's API.
func (s *stack) stockOf(id string) int64 {
	s.t.Helper()
	resp, err := s.cat.client().GetProduct(s.t.Context(), &cataloguev1.GetProductRequest{ProductId: id})
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
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", waitFor, what)
		}
		time.Sleep(pollEvery)
	}
}

func code(err error) codes.Code { return status.Code(err) }

// freePort returns a loopback port that was free a moment ago. It is drawn
// below Linux's ephemeral range (32768-60999), where servers listening on
// ":0" (the in-process orders servers of parallel tests) never land, so the
// port is still free when the catalogue subprocess binds it, and again when
// a test restarts it on the same port.
func freePort(t *testing.T) int {
	t.Helper()
	const lo, hi = 20000, 32000
	var lc net.ListenConfig
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return 0
}

// catalogueProc is the real catalogue, run from its built binary, which a
// test can kill and start again on the same ports and database.
type catalogueProc struct {
	t        *testing.T
	env      []string
	grpcAddr string
	logPath  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	conn *grpc.ClientConn
}

func newCatalogueProc(t *testing.T, dsn, natsURL, jwksFile string) *catalogueProc {
	t.Helper()
	grpcAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	c := &catalogueProc{
		t:        t,
		grpcAddr: grpcAddr,
		logPath:  filepath.Join(t.TempDir(), "catalogue.log"),
		env: []string{
			"DATABASE_URL=" + dsn,
			"NATS_URL=" + natsURL,
			"AUTH_JWKS_FILE=" + jwksFile,
			"AUTH_ISSUER=" + issuer,
			"AUTH_AUDIENCE=" + audience,
			"GRPC_ADDR=" + grpcAddr,
			"HTTP_ADDR=127.0.0.1:" + strconv.Itoa(freePort(t)),
			"ADMIN_ADDR=127.0.0.1:" + strconv.Itoa(freePort(t)),
			"SHUTDOWN_TIMEOUT=2s",
			"OUTBOX_POLL_INTERVAL=50ms",
			"LOG_LEVEL=INFO",
		},
	}
	t.Cleanup(func() {
		c.kill()
		c.mu.Lock()
		if c.conn != nil {
			_ = c.conn.Close()
		}
		c.mu.Unlock()
		if t.Failed() {
			if b, err := os.ReadFile(c.logPath); err == nil {
				t.Logf("catalogue logs:\n%s", tailLines(string(b), 100))
			}
		}
	})
	return c
}

// start runs the binary and waits until its gRPC health check serves.
func (c *catalogueProc) start() {
	t := c.t
	t.Helper()
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatalf("open catalogue log: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), catalogueBin)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("start catalogue: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(done)
	}()
	c.mu.Lock()
	c.cmd, c.done = cmd, done
	c.mu.Unlock()

	conn, err := grpc.NewClient(c.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial catalogue: %v", err)
	}
	defer func() { _ = conn.Close() }()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(waitFor)
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(c.logPath)
			t.Fatalf("catalogue exited during start-up:\n%s", tailLines(string(b), 50))
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalogue not serving after %s: %v", waitFor, err)
		}
		time.Sleep(pollEvery)
	}
}

// kill ends the process at once, as a crash would.
func (c *catalogueProc) kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.t.Error("catalogue did not exit after SIGKILL")
	}
}

// client returns a catalogue client for the test's own calls.
func (c *catalogueProc) client() cataloguev1.CatalogueServiceClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		conn, err := grpc.NewClient(c.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			c.t.Fatalf("dial catalogue: %v", err)
		}
		c.conn = conn
	}
	return cataloguev1.NewCatalogueServiceClient(c.conn)
}

// syncBuffer collects logs from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return tailLines(b.buf.String(), n)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = slices.Clone(lines[len(lines)-n:])
		lines = append([]string{fmt.Sprintf("... (last %d lines)", n)}, lines...)
	}
	return strings.Join(lines, "\n")
}

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
