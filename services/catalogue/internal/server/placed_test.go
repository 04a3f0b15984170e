package server_test

import (
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/consumer"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

// The catalogue's consumer of placed orders, as the orders service and
// operators know it.
const (
	placedDurable    = "catalogue-order-placed"
	placedDeadLetter = "deadletter.catalogue-order-placed"
	subjectPlaced    = "orders.order.placed"
)

// placedTTL is long enough for an OrderPlaced event to reach the catalogue
// on a loaded machine before the reservation expires; the tests wait for
// expiries by polling, never by sleeping this long.
const placedTTL = "3s"

func TestPlacedOrderKeepsItsStockPastTheTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	js := e.jetStream()
	if _, err := broker.EnsureStream(ctx, js, broker.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatalf("create ORDERS: %v", err)
	}
	in := e.start(map[string]string{"RESERVATION_TTL": placedTTL, "RESERVATION_SWEEP_INTERVAL": "100ms"})
	placedProduct := e.createProduct(in, product("Sold", 10)).GetId()
	abandonedProduct := e.createProduct(in, product("Abandoned", 5)).GetId()

	order := newOrderID(t)
	e.reserve(in, order, placedProduct, 3)
	// Reserved after the order's, with the same TTL: it expires no earlier.
	abandoned := newOrderID(t)
	e.reserve(in, abandoned, abandonedProduct, 2)

	e.waitConsumedBy(js, placedDurable, publishPlaced(t, js, newOrderID(t), order))
	if got := e.reservationStatus(order); got != "CONFIRMED" {
		t.Fatalf("reservation status after OrderPlaced = %q, want CONFIRMED (did the event arrive after the %s TTL?)", got, placedTTL)
	}

	// The sweep that expires the abandoned reservation is past the order's
	// TTL too, so it would have expired the order's had it been active.
	eventually(t, "the abandoned reservation to expire", func() bool {
		return e.reservationStatus(abandoned) == "EXPIRED"
	})
	if got := e.stockOf(abandonedProduct); got != 5 {
		t.Errorf("stock of the abandoned reservation's product = %d, want 5 (returned)", got)
	}
	if got := e.reservationStatus(order); got != "CONFIRMED" {
		t.Errorf("reservation status past the TTL = %q, want CONFIRMED", got)
	}
	if got := e.stockOf(placedProduct); got != 7 {
		t.Errorf("stock past the TTL = %d, want 7 (still reserved by the placed order)", got)
	}
	if got := e.stockEvents(order, "expire"); got != 0 {
		t.Errorf("StockChanged events expiring the placed order's reservation = %d, want 0", got)
	}

	// The RPC shows the confirmation: a retried ReserveStock returns the
	// stored reservation.
	resp, err := in.client.ReserveStock(ctx, &cataloguev1.ReserveStockRequest{
		ReservationId: order.String(), Items: items(item(placedProduct, 3)),
	}, e.service())
	if err != nil {
		t.Fatalf("retry ReserveStock: %v", err)
	}
	if got := resp.GetReservation().GetStatus(); got != cataloguev1.ReservationStatus_RESERVATION_STATUS_CONFIRMED {
		t.Errorf("status through the RPC = %v, want CONFIRMED", got)
	}

	// Another OrderPlaced for the same order, under its own event id.
	e.waitConsumedBy(js, placedDurable, publishPlaced(t, js, newOrderID(t), order))
	if got := e.reservationStatus(order); got != "CONFIRMED" {
		t.Errorf("reservation status after a second OrderPlaced = %q, want CONFIRMED", got)
	}
	if got := e.stockOf(placedProduct); got != 7 {
		t.Errorf("stock after a second OrderPlaced = %d, want 7", got)
	}

	// Cancelling the order gives its stock back, once.
	e.waitConsumed(js, publishCancelled(t, js, newOrderID(t), order))
	if got := e.stockOf(placedProduct); got != 10 {
		t.Errorf("stock after the cancel = %d, want 10", got)
	}
	if got := e.reservationStatus(order); got != "RELEASED" {
		t.Errorf("reservation status after the cancel = %q, want RELEASED", got)
	}
	e.waitConsumed(js, publishCancelled(t, js, newOrderID(t), order))
	rel, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: order.String()}, e.service())
	if err != nil {
		t.Fatalf("ReleaseStock after the cancel: %v", err)
	}
	if got := rel.GetReservation().GetStatus(); got != cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED {
		t.Errorf("ReleaseStock after the cancel: status = %v, want RELEASED", got)
	}
	if got := e.stockOf(placedProduct); got != 10 {
		t.Errorf("stock after a second cancel and a release = %d, want 10 (restored once)", got)
	}
	if got := e.releaseEvents(order); got != 1 {
		t.Errorf("StockChanged events releasing the reservation = %d, want 1", got)
	}
}

// ReleaseStock on a confirmed reservation (the orders service compensating,
// or an operator) gives the stock back once, like a cancel event.
func TestReleaseStockOfConfirmedReservation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	js := e.jetStream()
	if _, err := broker.EnsureStream(ctx, js, broker.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatalf("create ORDERS: %v", err)
	}
	in := e.start(nil)
	pid := e.createProduct(in, product("Confirmed", 4)).GetId()
	order := newOrderID(t)
	e.reserve(in, order, pid, 4)
	e.waitConsumedBy(js, placedDurable, publishPlaced(t, js, newOrderID(t), order))
	if got := e.reservationStatus(order); got != "CONFIRMED" {
		t.Fatalf("reservation status after OrderPlaced = %q, want CONFIRMED", got)
	}

	for i := range 2 {
		resp, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: order.String()}, e.service())
		if err != nil {
			t.Fatalf("release %d: %v", i+1, err)
		}
		if got := resp.GetReservation().GetStatus(); got != cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED {
			t.Errorf("release %d: status = %v, want RELEASED", i+1, got)
		}
	}
	if got := e.stockOf(pid); got != 4 {
		t.Errorf("stock after releasing twice = %d, want 4", got)
	}
	if got := e.releaseEvents(order); got != 1 {
		t.Errorf("StockChanged events releasing the reservation = %d, want 1", got)
	}
}

// An OrderPlaced that finds the reservation already released (even one
// released after it expired), or none at all, changes nothing and is
// acknowledged; one that finds it expired takes its stock again when there
// is enough and otherwise leaves it expired; one
// that cannot be read is dead-lettered without holding up the events behind
// it.
func TestOrderPlacedAfterTheReservationEnded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	js := e.jetStream()
	if _, err := broker.EnsureStream(ctx, js, broker.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatalf("create ORDERS: %v", err)
	}
	in := e.start(map[string]string{"RESERVATION_TTL": placedTTL, "RESERVATION_SWEEP_INTERVAL": "100ms"})
	pid := e.createProduct(in, product("Gone", 10)).GetId()

	released := newOrderID(t)
	e.reserve(in, released, pid, 3)
	resp, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: released.String()}, e.service())
	if err != nil || resp.GetReservation().GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED {
		t.Fatalf("release = %v, %v; want a released reservation", resp.GetReservation(), err)
	}
	expired, expiredShort, expiredCancelled := newOrderID(t), newOrderID(t), newOrderID(t)
	e.reserve(in, expired, pid, 2)
	e.reserve(in, expiredShort, pid, 7)
	e.reserve(in, expiredCancelled, pid, 1)
	eventually(t, "the reservations to expire", func() bool {
		return e.reservationStatus(expired) == "EXPIRED" && e.reservationStatus(expiredShort) == "EXPIRED" &&
			e.reservationStatus(expiredCancelled) == "EXPIRED"
	})
	// 10 in stock again; after writing off 5, the 7 cannot be taken again.
	if _, err := in.client.AdjustStock(ctx, &cataloguev1.AdjustStockRequest{ProductId: pid, Delta: -5}, e.admin()); err != nil {
		t.Fatalf("adjust stock: %v", err)
	}
	// This order is cancelled before its OrderPlaced arrives: the release
	// ends the expired reservation for good and gives nothing back twice.
	if resp, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: expiredCancelled.String()}, e.service()); err != nil ||
		resp.GetReservation().GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED {
		t.Fatalf("release the expired reservation = %v, %v; want it RELEASED", resp.GetReservation(), err)
	}

	poison := newOrderID(t)
	publishPlacedData(t, js, poison, []byte{0xff, 0xff, 0xff})
	good := []uuid.UUID{newOrderID(t), newOrderID(t), newOrderID(t), newOrderID(t), newOrderID(t)}
	publishPlaced(t, js, good[0], released)
	publishPlaced(t, js, good[1], expired)
	publishPlaced(t, js, good[2], expiredShort)
	publishPlaced(t, js, good[3], expiredCancelled)
	e.waitConsumedBy(js, placedDurable, publishPlaced(t, js, good[4], newOrderID(t))) // unknown order

	if got := e.reservationStatus(released); got != "RELEASED" {
		t.Errorf("released reservation after OrderPlaced = %q, want RELEASED", got)
	}
	if got := e.reservationStatus(expired); got != "CONFIRMED" {
		t.Errorf("expired reservation after OrderPlaced = %q, want CONFIRMED (reinstated)", got)
	}
	if got := e.reservationStatus(expiredShort); got != "EXPIRED" {
		t.Errorf("expired reservation short of stock after OrderPlaced = %q, want EXPIRED", got)
	}
	if got := e.reservationStatus(expiredCancelled); got != "RELEASED" {
		t.Errorf("expired then released reservation after OrderPlaced = %q, want RELEASED", got)
	}
	if got := e.stockEvents(expiredCancelled, "reinstate"); got != 0 {
		t.Errorf("StockChanged events reinstating a cancelled order's reservation = %d, want 0", got)
	}
	if got := e.stockOf(pid); got != 3 {
		t.Errorf("stock = %d, want 3 (all returned once, 5 written off, the reinstated 2 taken again)", got)
	}
	if got := e.stockEvents(expired, "reinstate"); got != 1 {
		t.Errorf("StockChanged events reinstating = %d, want 1", got)
	}
	if got := e.deadLetterOn(js, placedDeadLetter).Header.Get(consumer.HeaderEventID); got != poison.String() {
		t.Errorf("dead letter event id = %q, want %s", got, poison)
	}
	inbox := e.inboxOf(placedDurable)
	for _, id := range good {
		if !slices.Contains(inbox, id.String()) {
			t.Errorf("inbox = %v, want event %s in it", inbox, id)
		}
	}
	if slices.Contains(inbox, poison.String()) {
		t.Errorf("inbox = %v, want the poison event %s left out", inbox, poison)
	}
}

// publishPlacedData sends data on orders.order.placed with the headers the
// orders' outbox sets, and returns its stream sequence.
func publishPlacedData(t *testing.T, js jetstream.JetStream, eventID uuid.UUID, data []byte) uint64 {
	t.Helper()
	msg := nats.NewMsg(subjectPlaced)
	msg.Header.Set(broker.HeaderMsgID, eventID.String())
	msg.Header.Set(broker.HeaderType, string(proto.MessageName(&ordersv1.OrderPlaced{})))
	msg.Data = data
	ack, err := js.PublishMsg(t.Context(), msg)
	if err != nil {
		t.Fatalf("publish event %s: %v", eventID, err)
	}
	if ack.Duplicate {
		t.Fatalf("publish event %s: stream dropped it as a duplicate", eventID)
	}
	return ack.Sequence
}

// publishPlaced publishes OrderPlaced for order as event eventID.
func publishPlaced(t *testing.T, js jetstream.JetStream, eventID, order uuid.UUID) uint64 {
	t.Helper()
	data, err := proto.Marshal(&ordersv1.OrderPlaced{OrderId: order.String(), CustomerId: "customer-1"})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return publishPlacedData(t, js, eventID, data)
}
