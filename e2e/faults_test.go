package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/testcontainers/testcontainers-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/storefront-go/storefront/libs/broker"
	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/testenv"
)

// Faults come from Docker itself: stop, SIGKILL, SIGTERM, pause.

var docker struct {
	once sync.Once
	cli  *testcontainers.DockerClient
	err  error
}

func dockerAPI(t *testing.T) *testcontainers.DockerClient {
	t.Helper()
	docker.once.Do(func() { docker.cli, docker.err = testcontainers.NewDockerClientWithOpts(context.Background()) })
	if docker.err != nil {
		t.Fatalf("docker client: %v", docker.err)
	}
	return docker.cli
}

// signal sends sig to the container's main process.
func signal(t *testing.T, ctr *testcontainers.DockerContainer, sig string) {
	t.Helper()
	if _, err := dockerAPI(t).ContainerKill(t.Context(), ctr.GetContainerID(), client.ContainerKillOptions{Signal: sig}); err != nil {
		t.Fatalf("signal %s: %v", sig, err)
	}
}

// waitExited waits until the container's process has ended.
func waitExited(t *testing.T, ctr *testcontainers.DockerContainer, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "container exits", func() (bool, string) {
		st, err := ctr.State(t.Context())
		if err != nil {
			return false, err.Error()
		}
		return !st.Running, string(st.Status)
	})
}

func pause(t *testing.T, ctr *testcontainers.DockerContainer) {
	t.Helper()
	if _, err := dockerAPI(t).ContainerPause(t.Context(), ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		t.Fatalf("pause: %v", err)
	}
}

func unpause(ctr *testcontainers.DockerContainer) error {
	_, err := docker.cli.ContainerUnpause(context.Background(), ctr.GetContainerID(), client.ContainerUnpauseOptions{})
	return err
}

// stopFor stops a container gracefully (SIGTERM, then SIGKILL after 10 s).
func stopFor(t *testing.T, ctr *testcontainers.DockerContainer) {
	t.Helper()
	grace := 10 * time.Second
	if err := ctr.Stop(t.Context(), &grace); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// restart starts a stopped container again and, for a service, waits until
// it is ready and records its new ports. A failed restart leaves the stack
// broken for later tests, so it stops the whole run.
func restart(t *testing.T, ctr *testcontainers.DockerContainer, svc *service) {
	t.Helper()
	if err := ctr.Start(t.Context()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if svc != nil {
		if err := svc.resolve(t.Context()); err != nil {
			t.Fatalf("restart %s: %v", svc.name, err)
		}
	}
}

// loadStock is the stock of a product the load scenarios order from.
const loadStock = 100000

// call is one RPC of a load: when it ran, its trace and its outcome.
type call struct {
	start, end time.Time
	traceID    string
	code       codes.Code
	msg        string
	orderID    string
}

func (c call) took() time.Duration { return c.end.Sub(c.start) }

// load runs PlaceOrder from a few workers (spread over the clients) until halted, bounded in calls
// and in time. Each call carries a trace of its own, so its server spans
// can be found.
type load struct {
	mu    sync.Mutex
	calls []call
	stop  chan struct{}
	wg    sync.WaitGroup
}

type loadSpec struct {
	workers  int
	maxCalls int
	maxTime  time.Duration
	// deadline is each call's own deadline.
	deadline time.Duration
	// pause between one worker's calls, so a fast-failing phase does not
	// spin.
	pause time.Duration
}

func startOrderLoad(t *testing.T, st *stack, orders []ordersv1.OrderServiceClient, productID string, spec loadSpec) *load {
	t.Helper()
	l := &load{stop: make(chan struct{})}
	tokens := make([]grpc.CallOption, spec.workers)
	for i := range tokens {
		tokens[i] = bearer(st.token(t, fmt.Sprintf("load-%s-%d", t.Name(), i), "customer"))
	}
	until := time.Now().Add(spec.maxTime)
	var issued sync.Mutex
	n := 0
	next := func() bool {
		issued.Lock()
		defer issued.Unlock()
		n++
		return n <= spec.maxCalls && time.Now().Before(until)
	}
	for w := range spec.workers {
		l.wg.Go(func() {
			for next() {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, traceID := withTraceparent(context.Background())
				ctx, cancel := context.WithTimeout(ctx, spec.deadline)
				c := call{start: time.Now(), traceID: traceID}
				resp, err := orders[w%len(orders)].PlaceOrder(ctx, placeReq(productID, 1), tokens[w])
				cancel()
				c.end = time.Now()
				c.code, c.msg, c.orderID = status.Code(err), status.Convert(err).Message(), resp.GetOrder().GetId()
				l.mu.Lock()
				l.calls = append(l.calls, c)
				l.mu.Unlock()
				time.Sleep(spec.pause)
			}
		})
	}
	t.Cleanup(func() { l.halt() })
	return l
}

// orderLoad creates a product with loadStock, starts an order load on it
// over the clients and waits until warm orders have succeeded. It returns
// the product, the load and when the load began.
func orderLoad(t *testing.T, st *stack, clients []ordersv1.OrderServiceClient, spec loadSpec, warm int) (*cataloguev1.Product, *load, time.Time) {
	t.Helper()
	p := createProduct(t, st, loadStock, 100)
	l := startOrderLoad(t, st, clients, p.GetId(), spec)
	begin := time.Now()
	eventually(t, 20*time.Second, "orders succeed under load", func() (bool, string) {
		n := l.count(begin, isOK)
		return n >= warm, fmt.Sprintf("%d OK, outcomes %v", n, outcomes(l.snapshot()))
	})
	return p, l, begin
}

// halt stops the load, waits for calls in flight, and returns every call.
func (l *load) halt() []call {
	l.mu.Lock()
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.mu.Unlock()
	l.wg.Wait()
	return l.snapshot()
}

func (l *load) snapshot() []call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// since returns the calls that started after t.
func (l *load) since(t time.Time) []call {
	var out []call
	for _, c := range l.snapshot() {
		if !c.start.Before(t) {
			out = append(out, c)
		}
	}
	return out
}

// count counts the calls that started after since and match.
func (l *load) count(since time.Time, match func(call) bool) int {
	n := 0
	for _, c := range l.snapshot() {
		if !c.start.Before(since) && match(c) {
			n++
		}
	}
	return n
}

func isOK(c call) bool { return c.code == codes.OK }

func breakerRejected(c call) bool {
	return c.code == codes.Unavailable && strings.Contains(c.msg, "circuit breaker open")
}

// quantile returns the q-quantile of ds (nearest rank); 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func outcomes(calls []call) map[codes.Code]int {
	out := map[codes.Code]int{}
	for _, c := range calls {
		out[c.code]++
	}
	return out
}

// queryInt runs a one-number query against a service's database.
func queryInt(t *testing.T, st *stack, db, sql string, args ...any) int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), st.dbDSN(db))
	if err != nil {
		t.Fatalf("connect %s: %v", db, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var n int64
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %s: %v", db, sql, err)
	}
	return n
}

// checkStock asserts the stock invariants of one product after a fault,
// read from the services' own databases: catalogue's stock plus what its
// live reservations hold is what the product started with; every CONFIRMED
// order holds a CONFIRMED reservation of exactly its quantity; and no
// live reservation is left without an order, once the attempts have
// released theirs. It returns the units the confirmed orders hold.
func checkStock(t *testing.T, st *stack, productID string, initial int64) int64 {
	t.Helper()
	stock := stockOf(t, st, productID)
	held := queryInt(t, st, "catalogue", `SELECT coalesce(sum(i.quantity), 0) FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
		WHERE i.product_id = $1 AND r.status IN ('ACTIVE', 'CONFIRMED')`, productID)
	if stock+held != initial {
		t.Errorf("stock %d + reserved %d = %d, want %d", stock, held, stock+held, initial)
	}
	confirmedUnits := queryInt(t, st, "orders", `SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
		WHERE l.product_id = $1 AND o.status = 'CONFIRMED'`, productID)
	confirmedOrders := queryInt(t, st, "orders", `SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id
		WHERE l.product_id = $1 AND o.status = 'CONFIRMED'`, productID)
	// Catalogue confirms a placed order's reservation when orders asks or
	// when it consumes OrderPlaced; give the consumer time after a fault.
	eventually(t, 30*time.Second, "every confirmed order's reservation confirmed", func() (bool, string) {
		n := queryInt(t, st, "catalogue", `SELECT count(*) FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
			WHERE i.product_id = $1 AND r.status = 'CONFIRMED'`, productID)
		units := queryInt(t, st, "catalogue", `SELECT coalesce(sum(i.quantity), 0) FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
			WHERE i.product_id = $1 AND r.status = 'CONFIRMED'`, productID)
		return n == confirmedOrders && units == confirmedUnits, fmt.Sprintf("%d confirmed reservations holding %d, want %d orders holding %d", n, units, confirmedOrders, confirmedUnits)
	})
	// The reservations are keyed by order id: each confirmed one belongs to
	// a confirmed order.
	ids := confirmedOrderIDs(t, st, productID)
	missing := queryInt(t, st, "catalogue", `SELECT count(*) FROM unnest($1::uuid[]) AS o(id)
		WHERE NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = o.id AND r.status = 'CONFIRMED')`, ids)
	if missing != 0 {
		t.Errorf("%d CONFIRMED orders have no CONFIRMED reservation", missing)
	}
	return confirmedUnits
}

func confirmedOrderIDs(t *testing.T, st *stack, productID string) []uuid.UUID {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), st.dbDSN("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(t.Context(), `SELECT o.id FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE l.product_id = $1 AND o.status = 'CONFIRMED'`, productID)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// serverSpans returns, per call, the duration of orders' PlaceOrder server
// span, waiting until every call's span has been exported.
func serverSpans(t *testing.T, st *stack, calls []call) []time.Duration {
	t.Helper()
	want := map[string]bool{}
	for _, c := range calls {
		want[c.traceID] = true
	}
	var got []span
	eventually(t, 15*time.Second, "server spans of the calls exported", func() (bool, string) {
		got = st.otlp.find(func(s span) bool {
			return want[s.traceID] && s.service == "orders" && s.kind.String() == "SPAN_KIND_SERVER" && s.name == "orders.v1.OrderService/PlaceOrder"
		})
		return len(got) >= len(want), fmt.Sprintf("%d of %d", len(got), len(want))
	})
	ds := make([]time.Duration, 0, len(got))
	for _, s := range got {
		ds = append(ds, s.duration())
	}
	return ds
}

// Scenario 3: catalogue stops under order load. The breaker opens and
// PlaceOrder fails fast; after catalogue is back, orders succeed again
// within the breaker's open timeout plus a margin; stock adds up.
func TestCatalogueDownOpensBreaker(t *testing.T) {
	st := needStack(t)
	p, l, _ := orderLoad(t, st, []ordersv1.OrderServiceClient{clientsOf(t, st).orders}, loadSpec{workers: 4, maxCalls: 6000, maxTime: 90 * time.Second, deadline: 10 * time.Second, pause: 20 * time.Millisecond}, 20)

	down := time.Now()
	stopFor(t, st.catalogue.ctr)
	eventually(t, 20*time.Second, "the breaker rejects calls", func() (bool, string) {
		n := l.count(down, breakerRejected)
		return n >= 50, fmt.Sprintf("%d rejected by the breaker, outcomes %v", n, outcomes(l.snapshot()))
	})
	var opened time.Duration
	for _, c := range l.since(down) {
		if breakerRejected(c) {
			opened = c.start.Sub(down)
			break
		}
	}
	// Catalogue stays down a while with the breaker open; the fast failures
	// are measured then, apart from catalogue's own start-up below.
	time.Sleep(3 * time.Second)
	restarting := time.Now()
	restart(t, st.catalogue.ctr, st.catalogue)
	up := time.Now()
	recovered := eventually(t, breakerOpenTimeout+15*time.Second, "orders succeed after catalogue is back", func() (bool, string) {
		return l.count(up, isOK) > 0, fmt.Sprintf("outcomes since restart %v", outcomes(l.since(up)))
	})
	eventually(t, 20*time.Second, "orders keep succeeding", func() (bool, string) {
		return l.count(up.Add(recovered), isOK) >= 20, ""
	})
	calls := l.halt()

	var rejected []call
	var rejectedClient []time.Duration
	for _, c := range calls {
		if breakerRejected(c) && c.end.Before(restarting) {
			rejected = append(rejected, c)
			rejectedClient = append(rejectedClient, c.took())
		}
	}
	server := serverSpans(t, st, rejected)
	p99 := quantile(server, 0.99)
	t.Logf("breaker-open server spans: p50 %v p90 %v p99 %v max %v", quantile(server, 0.5), quantile(server, 0.9), p99, quantile(server, 1))
	if p99 > 5*time.Millisecond {
		t.Errorf("breaker-open PlaceOrder server p99 = %v over %d calls, want ≤ 5ms", p99, len(server))
	}
	if bound := breakerOpenTimeout + 5*time.Second; recovered > bound {
		t.Errorf("orders recovered %v after catalogue was back, want ≤ %v", recovered, bound)
	}
	units := checkStock(t, st, p.GetId(), loadStock)
	reportf("3 catalogue down", "server p99 ≤ 5 ms", "breaker open %v after stop; %d fast failures, server p99 %v (client p99 %v)",
		opened.Round(time.Millisecond), len(rejected), p99.Round(10*time.Microsecond), quantile(rejectedClient, 0.99).Round(10*time.Microsecond))
	reportf("3 catalogue down", fmt.Sprintf("≤ %v", breakerOpenTimeout+5*time.Second), "orders succeed again %v after catalogue is back (open timeout %v); outcomes %v", recovered.Round(time.Millisecond), breakerOpenTimeout, outcomes(calls))
	reportf("3 catalogue down", "stock + reserved = initial", "%d units in confirmed orders, every one backed by a confirmed reservation", units)
}

// pendingOutbox counts a service's events not yet published (parked rows
// included: they would be lost to consumers too).
func pendingOutbox(t *testing.T, st *stack, db string) int64 {
	t.Helper()
	return queryInt(t, st, db, `SELECT count(*) FROM outbox_events WHERE published_at IS NULL`)
}

// distinctOK returns the distinct order ids the calls placed.
func distinctOK(calls []call) map[string]bool {
	ids := map[string]bool{}
	for _, c := range calls {
		if c.code == codes.OK {
			ids[c.orderID] = true
		}
	}
	return ids
}

// analyticsCountsExactly waits until analytics shows exactly want orders
// of the product, then checks the figure holds (nothing counted twice
// late), and returns how long it took.
func analyticsCountsExactly(t *testing.T, st *stack, productID string, want int) time.Duration {
	t.Helper()
	c := clientsOf(t, st)
	took := eventually(t, 60*time.Second, "analytics counts every order", func() (bool, string) {
		s := statsOf(t, st, c, productID)
		return s.GetOrders() == int64(want) && s.GetUnitsSold() == int64(want), fmt.Sprintf("%d orders, %d units; want %d", s.GetOrders(), s.GetUnitsSold(), want)
	})
	time.Sleep(2 * time.Second)
	if s := statsOf(t, st, c, productID); s.GetOrders() != int64(want) {
		t.Errorf("analytics later shows %d orders, want %d", s.GetOrders(), want)
	}
	return took
}

// Scenario 4: NATS is down for 20 s during order load. Orders keep being
// placed (the events wait in the outbox); once NATS is back the outbox
// drains and analytics counts every order exactly once.
func TestNATSDownOrdersContinue(t *testing.T) {
	st := needStack(t)
	p, l, _ := orderLoad(t, st, []ordersv1.OrderServiceClient{clientsOf(t, st).orders}, loadSpec{workers: 2, maxCalls: 3000, maxTime: 90 * time.Second, deadline: 10 * time.Second, pause: 50 * time.Millisecond}, 10)

	down := time.Now()
	stopFor(t, st.nats)
	time.Sleep(20 * time.Second)
	pendingAtReturn := pendingOutbox(t, st, "orders")
	back := time.Now()
	restart(t, st.nats, nil)
	time.Sleep(3 * time.Second)
	calls := l.halt()

	during := 0
	for _, c := range calls {
		if c.start.After(down) && c.start.Before(back) {
			during++
			if c.code != codes.OK {
				t.Errorf("PlaceOrder while NATS was down: %v %s", c.code, c.msg)
			}
		}
	}
	if during < 20 {
		t.Errorf("only %d orders were tried while NATS was down", during)
	}
	eventually(t, 60*time.Second, "the outboxes drain", func() (bool, string) {
		o, cat := pendingOutbox(t, st, "orders"), pendingOutbox(t, st, "catalogue")
		return o == 0 && cat == 0, fmt.Sprintf("orders %d, catalogue %d pending", o, cat)
	})
	drained := time.Since(back)
	placed := distinctOK(calls)
	counted := analyticsCountsExactly(t, st, p.GetId(), len(placed))
	checkStock(t, st, p.GetId(), loadStock)
	reportf("4 NATS down 20 s", "every PlaceOrder OK", "%d of %d orders placed while NATS was down; %d events waited in orders' outbox", during, during, pendingAtReturn)
	reportf("4 NATS down 20 s", "outbox 0; analytics = orders", "outboxes empty ≤ %v after NATS was back (polled after the load); analytics counts all %d orders exactly once, %v after that",
		drained.Round(100*time.Millisecond), len(placed), counted.Round(100*time.Millisecond))
}

// Scenario 5: analytics is killed (SIGKILL) while it consumes orders, then
// restarted: it counts every distinct order exactly once.
func TestAnalyticsKilledCountsOnce(t *testing.T) {
	st := needStack(t)
	p, l, _ := orderLoad(t, st, []ordersv1.OrderServiceClient{clientsOf(t, st).orders}, loadSpec{workers: 3, maxCalls: 3000, maxTime: 60 * time.Second, deadline: 10 * time.Second, pause: 10 * time.Millisecond}, 30)
	signal(t, st.analytics.ctr, "KILL")
	killed := time.Now()
	waitExited(t, st.analytics.ctr, 10*time.Second)
	time.Sleep(2 * time.Second)
	restart(t, st.analytics.ctr, st.analytics)
	eventually(t, 20*time.Second, "more orders after the restart", func() (bool, string) { return l.count(time.Now().Add(-time.Second), isOK) >= 10, "" })
	calls := l.halt()
	placed := distinctOK(calls)
	took := analyticsCountsExactly(t, st, p.GetId(), len(placed))
	for _, c := range calls {
		if c.code != codes.OK {
			t.Errorf("PlaceOrder while analytics was down: %v %s", c.code, c.msg)
			break
		}
	}
	reportf("5 analytics SIGKILL", "analytics = distinct orders", "%d orders (%d before the kill); analytics counts each once, %v after the load", len(placed), countBefore(calls, killed), took.Round(100*time.Millisecond))
}

func countBefore(calls []call, t time.Time) int {
	n := 0
	for _, c := range calls {
		if c.code == codes.OK && c.end.Before(t) {
			n++
		}
	}
	return n
}

// jetStreamOf connects to the stack's NATS from this process; the
// connection closes when the test ends.
func jetStreamOf(t *testing.T, st *stack) jetstream.JetStream {
	t.Helper()
	var nc *nats.Conn
	if _, err := testenv.WaitReachable(t.Context(), st.nats, "4222/tcp", func(_ context.Context, hostPort string) error {
		var err error
		nc, err = nats.Connect("nats://"+hostPort, nats.Timeout(2*time.Second))
		return err
	}); err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// deadLetters counts the messages in the dead-letter stream; none when it
// was never created.
func deadLetters(t *testing.T, st *stack) uint64 {
	t.Helper()
	js := jetStreamOf(t, st)
	s, err := js.Stream(t.Context(), broker.DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// startedAt is when the container's process last started: a restart
// changes it.
func startedAt(t *testing.T, ctr *testcontainers.DockerContainer) string {
	t.Helper()
	info, err := ctr.Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.StartedAt
}

// Scenario 6: Postgres is paused longer than the read ceiling. Calls sent
// with a 30 s deadline end within the server's own ceiling, with
// UNAVAILABLE or DEADLINE_EXCEEDED (or OK once it is back), never a hang.
// After the pause everything recovers without a restart and no consumer
// message went to the dead-letter stream.
func TestPostgresPausedFailsWithinCeiling(t *testing.T) {
	st := needStack(t)
	const (
		readCeiling  = 10 * time.Second // GRPC_READ_CEILING's default
		writeCeiling = 20 * time.Second // GRPC_WRITE_CEILING's default
		pauseFor     = 12 * time.Second
		slack        = 2 * time.Second
	)
	c := clientsOf(t, st)
	p := createProduct(t, st, 1000, 100)
	dana := bearer(st.token(t, "pause-dana", "customer"))
	placed, err := c.orders.PlaceOrder(t.Context(), placeReq(p.GetId(), 1), dana)
	if err != nil {
		t.Fatal(err)
	}
	dlqBefore := deadLetters(t, st)
	started := map[string]string{}
	for _, svc := range st.services() {
		started[svc.name] = startedAt(t, svc.ctr)
	}

	type probe struct {
		name    string
		ceiling time.Duration
		call    func(ctx context.Context) error
	}
	probes := []probe{
		{"orders GetOrder (read)", readCeiling, func(ctx context.Context) error {
			_, err := c.orders.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: placed.GetOrder().GetId()}, dana)
			return err
		}},
		{"orders ListOrders (read)", readCeiling, func(ctx context.Context) error {
			_, err := c.orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{}, dana)
			return err
		}},
		{"catalogue SearchProducts (read)", readCeiling, func(ctx context.Context) error {
			_, err := c.catalogue.SearchProducts(ctx, &cataloguev1.SearchProductsRequest{Query: "lamp"})
			return err
		}},
		{"orders PlaceOrder (write)", writeCeiling, func(ctx context.Context) error {
			_, err := c.orders.PlaceOrder(ctx, placeReq(p.GetId(), 1), dana)
			return err
		}},
		{"analytics TrackEvent (write)", writeCeiling, func(ctx context.Context) error {
			_, err := c.analytics.TrackEvent(ctx, &analyticsv1.TrackEventRequest{Event: &analyticsv1.Event{
				EventId: uuid.NewString(), EventName: "product_viewed", UserId: "pause-dana", ProductId: p.GetId(), OccurredAt: timestamppb.Now(),
			}})
			return err
		}},
	}

	pause(t, st.pg)
	paused := time.Now()
	unpaused := false
	doUnpause := func() {
		if !unpaused {
			unpaused = true
			if err := unpause(st.pg); err != nil {
				t.Fatalf("unpause postgres: %v", err)
			}
		}
	}
	t.Cleanup(doUnpause)
	// An order placed during the pause sends events the consumers will
	// handle while Postgres is away, or right after.
	type result struct {
		took time.Duration
		code codes.Code
	}
	results := make([]result, len(probes))
	var wg sync.WaitGroup
	for i, pr := range probes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := pr.call(ctx)
			results[i] = result{took: time.Since(start), code: status.Code(err)}
		})
	}
	time.Sleep(pauseFor - time.Since(paused))
	doUnpause()
	wg.Wait()

	failed := 0
	for i, pr := range probes {
		r := results[i]
		switch r.code {
		case codes.OK:
		case codes.Unavailable, codes.DeadlineExceeded:
			failed++
		default:
			t.Errorf("%s during the pause: %v, want UNAVAILABLE, DEADLINE_EXCEEDED or OK", pr.name, r.code)
		}
		if r.took > pr.ceiling+slack {
			t.Errorf("%s took %v, beyond its ceiling %v", pr.name, r.took, pr.ceiling)
		}
		reportf("6 Postgres paused 12 s", fmt.Sprintf("≤ ceiling %v", pr.ceiling), "%s: %v after %v", pr.name, r.code, r.took.Round(100*time.Millisecond))
	}
	if failed == 0 {
		t.Errorf("no call failed during a pause longer than the read ceiling: %v", results)
	}

	recovered := eventually(t, 30*time.Second, "every service answers again", func() (bool, string) {
		for _, pr := range probes {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			err := pr.call(ctx)
			cancel()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", pr.name, err)
			}
		}
		return true, ""
	})
	for _, svc := range st.services() {
		if got := startedAt(t, svc.ctr); got != started[svc.name] {
			t.Errorf("%s restarted during the pause (started %s, now %s)", svc.name, started[svc.name], got)
		}
	}
	// Let the consumers work through what the pause held up.
	time.Sleep(3 * time.Second)
	if got := deadLetters(t, st); got != dlqBefore {
		t.Errorf("dead-letter stream holds %d messages, %d before the pause", got, dlqBefore)
	}
	reportf("6 Postgres paused 12 s", "recover without restart; no dead letters", "all answer %v after unpause; no restarts; dead letters %d → %d", recovered.Round(100*time.Millisecond), dlqBefore, deadLetters(t, st))
}

// Scenario 9: SIGTERM to orders during load. Calls in flight complete,
// health goes NOT_SERVING before the listener closes, and every order the
// service accepted is there after it restarts.
func TestOrdersGracefulStop(t *testing.T) {
	st := needStack(t)
	p, l, begin := orderLoad(t, st, []ordersv1.OrderServiceClient{clientsOf(t, st).orders}, loadSpec{workers: 4, maxCalls: 3000, maxTime: 60 * time.Second, deadline: 10 * time.Second, pause: 5 * time.Millisecond}, 30)

	// Watch health on a connection of its own every 20 ms.
	type seen struct {
		at     time.Time
		status string
	}
	var (
		healthMu sync.Mutex
		statuses []seen
	)
	watchDone := make(chan struct{})
	health := healthpb.NewHealthClient(dial(t, st.orders.grpc))
	go func() {
		defer close(watchDone)
		for range 1000 { // 20 s at most
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
			cancel()
			s := resp.GetStatus().String()
			if err != nil {
				s = "error: " + status.Code(err).String()
			}
			healthMu.Lock()
			statuses = append(statuses, seen{time.Now(), s})
			healthMu.Unlock()
			if err != nil && status.Code(err) == codes.Unavailable && time.Since(begin) > time.Second {
				healthMu.Lock()
				n := len(statuses)
				healthMu.Unlock()
				if n > 3 && strings.HasPrefix(statuses[n-2].status, "error") {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	term := time.Now()
	signal(t, st.orders.ctr, "TERM")
	waitExited(t, st.orders.ctr, 30*time.Second)
	exited := time.Now()
	calls := l.halt()
	<-watchDone
	restart(t, st.orders.ctr, st.orders)

	// Calls already running at SIGTERM finish normally.
	inFlight, inFlightOK := 0, 0
	for _, c := range calls {
		if c.start.Before(term) && c.end.After(term) {
			inFlight++
			if c.code == codes.OK {
				inFlightOK++
			} else {
				t.Errorf("call in flight at SIGTERM ended %v %s", c.code, c.msg)
			}
		}
		if c.code != codes.OK && c.code != codes.Unavailable {
			t.Errorf("PlaceOrder during shutdown: %v %s, want OK or UNAVAILABLE", c.code, c.msg)
		}
	}
	// NOT_SERVING shows before the first failed health check.
	notServing, firstError := time.Time{}, time.Time{}
	for _, s := range statuses {
		if s.at.Before(term) {
			continue
		}
		if s.status == "NOT_SERVING" && notServing.IsZero() {
			notServing = s.at
		}
		if strings.HasPrefix(s.status, "error") && firstError.IsZero() {
			firstError = s.at
		}
	}
	if notServing.IsZero() || (!firstError.IsZero() && firstError.Before(notServing)) {
		t.Errorf("health after SIGTERM: NOT_SERVING at %v, first error at %v; want NOT_SERVING first", notServing, firstError)
	}
	// Every accepted order survived.
	c2 := clientsOf(t, st)
	accepted := 0
	for _, call := range calls {
		if call.code != codes.OK {
			continue
		}
		accepted++
		if _, err := c2.orders.GetOrder(t.Context(), &ordersv1.GetOrderRequest{OrderId: call.orderID}, bearer(st.token(t, "e2e-admin", "admin"))); err != nil {
			t.Errorf("accepted order %s after restart: %v", call.orderID, err)
		}
	}
	checkStock(t, st, p.GetId(), loadStock)
	reportf("9 graceful stop", "in-flight OK; NOT_SERVING first; none lost", "%d in flight at SIGTERM, %d OK; NOT_SERVING %v after SIGTERM, listener gone %v after; exit %v after; %d accepted orders all present",
		inFlight, inFlightOK, notServing.Sub(term).Round(time.Millisecond), firstError.Sub(notServing).Round(time.Millisecond), exited.Sub(term).Round(100*time.Millisecond), accepted)
}
