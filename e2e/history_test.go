package e2e

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

// Scenario 14: a randomized, bounded, concurrent workload of one customer
// (place, retry a key, cancel, read the product, read an order) runs
// while catalogue is killed, Postgres is paused and orders is killed;
// every operation's call and answer is recorded, and porcupine checks the
// history for linearizability against stockModel.

const (
	historyStock    = 15
	historyWorkers  = 4
	historyMaxOps   = 600 // per worker
	historyDeadline = 2 * time.Second
	historyPause    = 20 * time.Millisecond
	historyMaxTime  = 60 * time.Second
)

// endpoints are the clients the workload calls through, dialled again when
// a restart moves a container's ports.
type endpoints struct {
	mu        sync.RWMutex
	catalogue cataloguev1.CatalogueServiceClient
	orders    ordersv1.OrderServiceClient
}

func (e *endpoints) redial(t *testing.T, st *stack) {
	t.Helper()
	c := clientsOf(t, st)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catalogue, e.orders = c.catalogue, c.orders
}

func (e *endpoints) get() (cataloguev1.CatalogueServiceClient, ordersv1.OrderServiceClient) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.catalogue, e.orders
}

// history is what the workload recorded, and the keys and orders it can
// pick from.
type history struct {
	mu     sync.Mutex
	base   time.Time
	ops    []porcupine.Operation
	counts map[string]int // per operation kind and answer
	keys   []string
	orders []string
}

func (h *history) add(client int, in histInput, out histOutput, call, ret time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[kindName(in.kind)+" "+out.code]++
	if out.outcome == outNotAttempted || out.outcome == outUnknown && (in.kind == opGetProduct || in.kind == opGetOrder) {
		return // no effect, and a read without an answer tells nothing
	}
	op := porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call.Sub(h.base).Nanoseconds(), Return: ret.Sub(h.base).Nanoseconds()}
	if out.outcome == outUnknown {
		// Its effect may land any time after it was sent; the model keeps
		// that open, so it is linearized right where it began.
		op.Return = op.Call + 1
	}
	h.ops = append(h.ops, op)
	if in.kind == opPlace && out.outcome == outOK {
		h.orders = append(h.orders, out.orderID)
	}
}

func (h *history) newKey() string {
	k := "history-" + uuid.NewString()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys = append(h.keys, k)
	return k
}

// recentKey picks one of the last few keys, so retries overlap the
// attempts they repeat.
func (h *history) recentKey(rng *rand.Rand) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.keys) == 0 {
		return "", false
	}
	n := min(len(h.keys), 8)
	return h.keys[len(h.keys)-1-rng.IntN(n)], true
}

func (h *history) someOrder(rng *rand.Rand) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.orders) == 0 {
		return "", false
	}
	return h.orders[rng.IntN(len(h.orders))], true
}

func kindName(k histKind) string {
	return [...]string{"PlaceOrder", "CancelOrder", "GetProduct", "GetOrder"}[k]
}

// classify turns an RPC's error into the model's outcome. Only OK, a
// shortage and the errors a fault explains are expected; anything else is
// a definite refusal, which no correct history has.
//
// Two kinds of UNAVAILABLE settle the outcome: orders' NOTHING_RESERVED,
// and grpc-go's own failure to connect (the dial failed, or the
// connection closed before the server's HTTP/2 preface came): grpc-go
// sends a call only on a connection that is ready, so it sent none of it.
func classify(err error) histOutput {
	if err == nil {
		return histOutput{outcome: outOK, code: "OK"}
	}
	s := status.Convert(err)
	out := histOutput{outcome: outRefused, code: s.Code().String()}
	switch s.Code() {
	case codes.FailedPrecondition:
		for _, d := range s.Details() {
			if pf, ok := d.(*errdetails.PreconditionFailure); ok && len(pf.GetViolations()) > 0 && pf.GetViolations()[0].GetType() == "STOCK" {
				out.outcome, out.code = outSoldOut, "sold out"
			}
		}
	case codes.Unavailable:
		out.outcome = outUnknown
		for _, d := range s.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "NOTHING_RESERVED" {
				out.outcome, out.code = outNotAttempted, "nothing reserved"
			}
		}
		if len(s.Details()) == 0 && (strings.Contains(s.Message(), "Error while dialing") || strings.Contains(s.Message(), "error reading server preface")) {
			out.outcome, out.code = outNotAttempted, "not sent (cannot connect)"
		}
	case codes.DeadlineExceeded, codes.Canceled, codes.Aborted, codes.Unknown, codes.Internal, codes.ResourceExhausted:
		out.outcome = outUnknown
	default:
	}
	return out
}

// historyWorker runs one client's share of the workload until stop closes
// or its bounds are reached.
func historyWorker(ep *endpoints, h *history, client int, seed uint64, productID string, token grpc.CallOption, stop <-chan struct{}, until time.Time) {
	rng := rand.New(rand.NewPCG(seed, uint64(client)))
	for range historyMaxOps {
		select {
		case <-stop:
			return
		default:
		}
		if time.Now().After(until) {
			return
		}
		cat, ord := ep.get()
		ctx, cancel := context.WithTimeout(context.Background(), historyDeadline)
		var (
			in  histInput
			out histOutput
		)
		call := time.Now()
		r := rng.IntN(100)
		orderID, haveOrder := h.someOrder(rng)
		key, haveKey := h.recentKey(rng)
		switch {
		case r < 15 && haveOrder:
			in = histInput{kind: opCancel, orderID: orderID}
			resp, err := ord.CancelOrder(ctx, &ordersv1.CancelOrderRequest{OrderId: orderID, Reason: "history check"}, token)
			out = classify(err)
			out.status = resp.GetOrder().GetStatus()
		case r < 25 && haveOrder:
			in = histInput{kind: opGetOrder, orderID: orderID}
			resp, err := ord.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: orderID}, token)
			out = classify(err)
			out.status = resp.GetOrder().GetStatus()
		case r < 55:
			in = histInput{kind: opGetProduct}
			resp, err := cat.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: productID})
			out = classify(err)
			out.stock = resp.GetProduct().GetStockQty()
		default:
			if r >= 90 && haveKey {
				in = histInput{kind: opPlace, key: key}
			} else {
				in = histInput{kind: opPlace, key: h.newKey()}
			}
			resp, err := ord.PlaceOrder(ctx, &ordersv1.PlaceOrderRequest{
				IdempotencyKey: in.key, Items: []*ordersv1.OrderItem{{ProductId: productID, Quantity: 1}},
			}, token)
			out = classify(err)
			out.orderID = resp.GetOrder().GetId()
		}
		ret := time.Now()
		cancel()
		h.add(client, in, out, call, ret)
		time.Sleep(historyPause)
	}
}

func TestHistoryIsLinearizableUnderFaults(t *testing.T) {
	st := needStack(t)
	p := createProduct(t, st, historyStock, 100)
	seed := uint64(time.Now().UnixNano())
	t.Logf("workload seed %d", seed)
	token := bearer(st.token(t, "history-shopper", "customer"))
	ep := &endpoints{}
	ep.redial(t, st)
	h := &history{base: time.Now(), counts: map[string]int{}}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	until := time.Now().Add(historyMaxTime)
	for w := range historyWorkers {
		wg.Go(func() { historyWorker(ep, h, w, seed, p.GetId(), token, stop, until) })
	}
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(halt)
	t.Cleanup(func() { _ = unpause(st.pg) })

	// The faults, one after another, each with calm on both sides.
	time.Sleep(3 * time.Second)
	signal(t, st.catalogue.ctr, "KILL")
	waitExited(t, st.catalogue.ctr, 10*time.Second)
	time.Sleep(2 * time.Second)
	restart(t, st.catalogue.ctr, st.catalogue)
	ep.redial(t, st)
	time.Sleep(3 * time.Second)
	pause(t, st.pg)
	time.Sleep(3 * time.Second)
	if err := unpause(st.pg); err != nil {
		t.Fatalf("unpause postgres: %v", err)
	}
	time.Sleep(3 * time.Second)
	signal(t, st.orders.ctr, "KILL")
	waitExited(t, st.orders.ctr, 10*time.Second)
	time.Sleep(time.Second)
	restart(t, st.orders.ctr, st.orders)
	ep.redial(t, st)
	time.Sleep(6 * time.Second)
	halt()

	ops := h.ops
	unknown := 0
	for _, op := range ops {
		if op.Output.(histOutput).outcome == outUnknown { //nolint:forcetypeassert // the history holds histOutput only
			unknown++
		}
	}
	t.Logf("answers: %v", h.counts)
	model := stockModel(historyStock)
	checkStart := time.Now()
	result, info := porcupine.CheckOperationsVerbose(model, ops, time.Minute)
	took := time.Since(checkStart)
	if result != porcupine.Ok {
		path := filepath.Join(t.ArtifactDir(), "history.html")
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			t.Errorf("visualize: %v", err)
		}
		t.Errorf("history of %d operations: %s; visualization in %s", len(ops), result, path)
	}
	// The same history with one impossible read appended must fail, or the
	// check above proved nothing.
	var last int64
	for _, op := range ops {
		last = max(last, op.Return)
	}
	tampered := append(slices.Clone(ops), porcupine.Operation{
		ClientId: 0, Input: histInput{kind: opGetProduct}, Output: histOutput{outcome: outOK, code: "OK", stock: historyStock + 1}, Call: last + 1, Return: last + 2,
	})
	if got := porcupine.CheckOperationsTimeout(model, tampered, time.Minute); got != porcupine.Illegal {
		t.Errorf("the history with a read of %d appended: %s, want Illegal", historyStock+1, got)
	}
	if got := h.counts["PlaceOrder OK"]; got == 0 {
		t.Errorf("no order succeeded; answers %v", h.counts)
	}
	if got := h.counts["PlaceOrder sold out"]; got == 0 {
		t.Errorf("no order was refused for stock, so the check never saw the stock run out; answers %v", h.counts)
	}
	checkStock(t, st, p.GetId(), historyStock)
	reportf("14 history check", "linearizable (porcupine)", "%d operations from %d clients (%d orders placed, %d sold out, %d of unknown outcome) across catalogue SIGKILL, Postgres paused 3 s, orders SIGKILL: %s, checked in %v",
		len(ops), historyWorkers, h.counts["PlaceOrder OK"], h.counts["PlaceOrder sold out"], unknown, result, took.Round(time.Millisecond))
}
