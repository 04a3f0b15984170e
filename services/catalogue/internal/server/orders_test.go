package server_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/config"
	"github.com/storefront-go/storefront/libs/consumer"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/server"
)

// The catalogue's consumer of cancelled orders, as the orders service and
// operators know it.
const (
	cancelDurable    = "catalogue-order-cancelled"
	cancelDeadLetter = "deadletter.catalogue-order-cancelled"
	subjectCancelled = "orders.order.cancelled"
)

// ordersDuplicateWindow is short so that the test can send an event id
// again after JetStream forgot it, as a redelivery would bring it back.
const ordersDuplicateWindow = 200 * time.Millisecond

func TestOrderCancelledReleasesStockOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The catalogue starts before the ORDERS stream exists, as it may in
	// production: the consumer waits for the orders service to create it.
	in := e.start(nil)
	ctx := t.Context()
	pid := e.createProduct(in, product("Returnable", 10)).GetId()
	order := newOrderID(t)
	e.reserve(in, order, pid, 3)
	if got := e.stockOf(pid); got != 7 {
		t.Fatalf("stock after reserving = %d, want 7", got)
	}

	js := e.jetStream()
	// The orders service owns ORDERS; the test plays its part.
	if _, err := broker.EnsureStream(ctx, js, broker.StreamSpec{
		Name: "ORDERS", Subjects: []string{"orders.>"}, DuplicateWindow: ordersDuplicateWindow,
	}); err != nil {
		t.Fatalf("create ORDERS: %v", err)
	}

	first := newOrderID(t) // an event id, a UUIDv7 like the outbox's
	e.waitConsumed(js, publishCancelled(t, js, first, order))
	if got := e.stockOf(pid); got != 10 {
		t.Errorf("stock after the cancel = %d, want 10", got)
	}
	if got := e.reservationStatus(order); got != "RELEASED" {
		t.Errorf("reservation status = %q, want RELEASED", got)
	}

	// A second cancel event for the same order, with its own event id.
	second := newOrderID(t)
	e.waitConsumed(js, publishCancelled(t, js, second, order))
	if got := e.stockOf(pid); got != 10 {
		t.Errorf("stock after a second cancel event = %d, want 10 (restored once)", got)
	}

	// The first event delivered again under its own id: the inbox skips it.
	e.waitConsumed(js, republish(t, js, first, order))

	if got := e.releaseEvents(order); got != 1 {
		t.Errorf("StockChanged events releasing the reservation = %d, want 1", got)
	}
	if diff := cmp.Diff([]string{first.String(), second.String()}, e.inbox()); diff != "" {
		t.Errorf("inbox (-want +got):\n%s", diff)
	}
	if got := e.stockOf(pid); got != 10 {
		t.Errorf("stock after the redelivery = %d, want 10", got)
	}
	// The released reservation is spent: the RPC sees it as released too.
	resp, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: order.String()}, e.service())
	if err != nil || resp.GetReservation().GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED {
		t.Errorf("ReleaseStock after the cancel = %v, %v; want the released reservation", resp.GetReservation(), err)
	}
}

func TestOrderCancelledPoisonAndUnknownEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.jetStream()
	if _, err := broker.EnsureStream(t.Context(), js, broker.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatalf("create ORDERS: %v", err)
	}
	in := e.start(nil)
	pid := e.createProduct(in, product("Sturdy", 5)).GetId()
	order := newOrderID(t)
	e.reserve(in, order, pid, 2)

	// A payload that is no OrderCancelled, then a good event behind it.
	poison := newOrderID(t)
	publish(t, js, poison, []byte{0xff, 0xff, 0xff})
	e.waitConsumed(js, publishCancelled(t, js, newOrderID(t), order))
	if got := e.stockOf(pid); got != 5 {
		t.Errorf("stock after the cancel behind a poison event = %d, want 5", got)
	}
	dead := e.deadLetter(js)
	if got := dead.Header.Get(consumer.HeaderEventID); got != poison.String() {
		t.Errorf("dead letter event id = %q, want %s", got, poison)
	}
	if got := dead.Header.Get(broker.HeaderOriginalSubject); got != subjectCancelled {
		t.Errorf("dead letter original subject = %q, want %s", got, subjectCancelled)
	}

	// An order whose reservation the catalogue never saw is acknowledged
	// and leaves stock alone.
	unknown := newOrderID(t)
	e.waitConsumed(js, publishCancelled(t, js, unknown, newOrderID(t)))
	if got := e.stockOf(pid); got != 5 {
		t.Errorf("stock after cancelling an unknown order = %d, want 5", got)
	}
	if got := e.deadLetter(js).Header.Get(consumer.HeaderEventID); got != poison.String() {
		t.Errorf("last dead letter event id = %q, want still %s", got, poison)
	}
	inbox := e.inbox()
	if !slices.Contains(inbox, unknown.String()) || slices.Contains(inbox, poison.String()) {
		t.Errorf("inbox = %v, want %s and not the poison event %s", inbox, unknown, poison)
	}
}

// A consumer the NATS server refuses cannot be fixed by retrying: the
// replica stops with the error rather than serve without ever releasing
// cancelled orders' stock.
func TestRejectedConsumerStopsTheReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	js := e.jetStream()
	if _, err := broker.EnsureStream(ctx, js, broker.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatalf("create ORDERS: %v", err)
	}
	// A push consumer under the catalogue's durable name; JetStream refuses
	// to turn it into the pull consumer the catalogue asks for.
	if _, err := js.CreatePushConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{
		Durable: cancelDurable, DeliverSubject: "elsewhere", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatalf("create push consumer: %v", err)
	}

	r := e.run(nil)
	select {
	case <-r.Done():
		err := r.Stop() // Run's error, now that it has returned
		if _, ok := errors.AsType[*jetstream.APIError](err); !ok {
			t.Errorf("run = %v, want the server's rejection of the consumer", err)
		}
	case <-time.After(waitFor):
		// The replica's cleanup stops it.
		t.Fatalf("replica still running %s after its consumer was rejected", waitFor)
	}
}

func TestConsumerConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want server.ConsumerConfig
	}{
		{
			name: "defaults",
			env:  map[string]string{},
			want: server.ConsumerConfig{AckWait: 30 * time.Second, MaxDeliver: 5, Backoff: []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}},
		},
		{
			name: "overrides",
			env:  map[string]string{"CONSUMER_ACK_WAIT": "10s", "CONSUMER_MAX_DELIVER": "3", "CONSUMER_BACKOFF": "100ms,2s"},
			want: server.ConsumerConfig{AckWait: 10 * time.Second, MaxDeliver: 3, Backoff: []time.Duration{100 * time.Millisecond, 2 * time.Second}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.LoadWithEnv[server.ConsumerConfig](tt.env)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlacedConsumerConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want server.PlacedConsumerConfig
	}{
		{
			name: "defaults retry for over an hour",
			env:  map[string]string{},
			want: server.PlacedConsumerConfig{AckWait: 30 * time.Second, MaxDeliver: 20, Backoff: []time.Duration{
				time.Second, 5 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
			}},
		},
		{
			name: "overrides",
			env:  map[string]string{"PLACED_CONSUMER_ACK_WAIT": "10s", "PLACED_CONSUMER_MAX_DELIVER": "8", "PLACED_CONSUMER_BACKOFF": "2s,1m"},
			want: server.PlacedConsumerConfig{AckWait: 10 * time.Second, MaxDeliver: 8, Backoff: []time.Duration{2 * time.Second, time.Minute}},
		},
		{
			name: "the cancelled orders' variables leave it alone",
			env:  map[string]string{"CONSUMER_MAX_DELIVER": "3", "CONSUMER_BACKOFF": "100ms"},
			want: server.PlacedConsumerConfig{AckWait: 30 * time.Second, MaxDeliver: 20, Backoff: []time.Duration{
				time.Second, 5 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.LoadWithEnv[server.PlacedConsumerConfig](tt.env)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// Each durable gets its own retry schedule on the server: the placed
// orders' backstop retries long, the cancelled orders' keeps the default.
// The attempts themselves are counted by libs/consumer, which leaves out
// those a database outage ended, so the server redelivers without limit.
func TestOrderConsumersRetrySchedules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.jetStream()
	if _, err := broker.EnsureStream(t.Context(), js, broker.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatalf("create ORDERS: %v", err)
	}
	e.start(nil)
	tests := []struct {
		durable     string
		subject     string
		wantBackoff []time.Duration
	}{
		// Each step is AckWait plus the delay: libs/consumer's mapping
		// onto JetStream.
		{durable: placedDurable, subject: subjectPlaced, wantBackoff: []time.Duration{
			31 * time.Second, 35 * time.Second, time.Minute, 90 * time.Second, 330 * time.Second,
		}},
		{durable: cancelDurable, subject: subjectCancelled, wantBackoff: []time.Duration{
			31 * time.Second, 35 * time.Second, time.Minute,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.durable, func(t *testing.T) {
			var cfg jetstream.ConsumerConfig
			eventually(t, "consumer "+tt.durable+" to exist", func() bool {
				cons, err := js.Consumer(t.Context(), "ORDERS", tt.durable)
				if err != nil {
					return false
				}
				info, err := cons.Info(t.Context())
				if err != nil {
					return false
				}
				cfg = info.Config
				return true
			})
			if cfg.MaxDeliver != -1 {
				t.Errorf("MaxDeliver = %d, want -1 (unlimited)", cfg.MaxDeliver)
			}
			wantFilters := []string{tt.subject, consumer.RedriveSubject(tt.subject, tt.durable)}
			if diff := cmp.Diff(wantFilters, cfg.FilterSubjects); diff != "" {
				t.Errorf("FilterSubjects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantBackoff, cfg.BackOff); diff != "" {
				t.Errorf("BackOff (-want +got):\n%s", diff)
			}
		})
	}
}

func newOrderID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new uuid: %v", err)
	}
	return id
}

// reserve reserves qty of a product under the order's id, as orders does.
func (e *env) reserve(in *instance, order uuid.UUID, productID string, qty int32) {
	e.t.Helper()
	_, err := in.client.ReserveStock(e.t.Context(), &cataloguev1.ReserveStockRequest{
		ReservationId: order.String(), Items: items(item(productID, qty)),
	}, e.service())
	if err != nil {
		e.t.Fatalf("reserve for order %s: %v", order, err)
	}
}

// jetStream connects the test to the env's NATS server.
func (e *env) jetStream() jetstream.JetStream {
	t := e.t
	t.Helper()
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		t.Fatalf("connect nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// publish sends data on orders.order.cancelled with the headers the
// orders' outbox sets, and returns its stream sequence.
func publish(t *testing.T, js jetstream.JetStream, eventID uuid.UUID, data []byte) uint64 {
	t.Helper()
	ack, err := js.PublishMsg(t.Context(), cancelledMsg(eventID, data))
	if err != nil {
		t.Fatalf("publish event %s: %v", eventID, err)
	}
	if ack.Duplicate {
		t.Fatalf("publish event %s: stream dropped it as a duplicate", eventID)
	}
	return ack.Sequence
}

func cancelledMsg(eventID uuid.UUID, data []byte) *nats.Msg {
	msg := nats.NewMsg(subjectCancelled)
	msg.Header.Set(broker.HeaderMsgID, eventID.String())
	msg.Header.Set(broker.HeaderType, string(proto.MessageName(&ordersv1.OrderCancelled{})))
	msg.Data = data
	return msg
}

func cancelledPayload(t *testing.T, order uuid.UUID) []byte {
	t.Helper()
	data, err := proto.Marshal(&ordersv1.OrderCancelled{OrderId: order.String(), CustomerId: "customer-1", Reason: "changed my mind"})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return data
}

// publishCancelled publishes OrderCancelled for order as event eventID.
func publishCancelled(t *testing.T, js jetstream.JetStream, eventID, order uuid.UUID) uint64 {
	t.Helper()
	return publish(t, js, eventID, cancelledPayload(t, order))
}

// republish sends an event id the stream has seen, retrying until its
// duplicate window has passed and the stream stores the copy.
func republish(t *testing.T, js jetstream.JetStream, eventID, order uuid.UUID) uint64 {
	t.Helper()
	data := cancelledPayload(t, order)
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		ack, err := js.PublishMsg(t.Context(), cancelledMsg(eventID, data))
		if err != nil {
			t.Fatalf("republish event %s: %v", eventID, err)
		}
		if !ack.Duplicate {
			return ack.Sequence
		}
		time.Sleep(ordersDuplicateWindow / 2)
	}
	t.Fatalf("gave up after %s republishing event %s: still a duplicate", waitFor, eventID)
	return 0
}

// waitConsumed waits until the catalogue's consumer of cancelled orders has
// settled (acked or dead-lettered) every message up to stream sequence seq.
func (e *env) waitConsumed(js jetstream.JetStream, seq uint64) {
	e.t.Helper()
	e.waitConsumedBy(js, cancelDurable, seq)
}

// waitConsumedBy waits until the durable consumer has settled every message
// up to stream sequence seq.
func (e *env) waitConsumedBy(js jetstream.JetStream, durable string, seq uint64) {
	e.t.Helper()
	eventually(e.t, "consumer "+durable+" to settle the event", func() bool {
		cons, err := js.Consumer(e.t.Context(), "ORDERS", durable)
		if err != nil {
			return false
		}
		info, err := cons.Info(e.t.Context())
		return err == nil && info.AckFloor.Stream >= seq && info.NumAckPending == 0
	})
}

// deadLetter returns the last message the consumer of cancelled orders
// dead-lettered.
func (e *env) deadLetter(js jetstream.JetStream) *jetstream.RawStreamMsg {
	e.t.Helper()
	return e.deadLetterOn(js, cancelDeadLetter)
}

// deadLetterOn returns the last dead letter on subject.
func (e *env) deadLetterOn(js jetstream.JetStream, subject string) *jetstream.RawStreamMsg {
	e.t.Helper()
	var msg *jetstream.RawStreamMsg
	eventually(e.t, "a dead letter on "+subject, func() bool {
		stream, err := js.Stream(e.t.Context(), broker.DeadLetterStream)
		if err != nil {
			return false
		}
		msg, err = stream.GetLastMsgForSubject(e.t.Context(), subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false
		}
		if err != nil {
			e.t.Fatalf("read dead letter: %v", err)
		}
		return true
	})
	return msg
}

// reservationStatus reads a reservation's status from the database.
func (e *env) reservationStatus(id uuid.UUID) string {
	e.t.Helper()
	var status string
	if err := e.pool().QueryRow(e.t.Context(), `SELECT status FROM reservations WHERE id = $1`, id).Scan(&status); err != nil {
		e.t.Fatalf("read reservation %s: %v", id, err)
	}
	return status
}

// releaseEvents counts the StockChanged events in the outbox that gave the
// reservation's stock back on release.
func (e *env) releaseEvents(reservation uuid.UUID) int {
	e.t.Helper()
	return e.stockEvents(reservation, "release")
}

// stockEvents counts the StockChanged events in the outbox for the
// reservation with the given reason.
func (e *env) stockEvents(reservation uuid.UUID, reason string) int {
	e.t.Helper()
	rows, err := e.pool().Query(e.t.Context(), `SELECT payload FROM outbox_events WHERE subject = 'catalogue.stock.changed'`)
	if err != nil {
		e.t.Fatalf("read outbox: %v", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			e.t.Fatalf("scan outbox: %v", err)
		}
		var ev cataloguev1.StockChanged
		if err := proto.Unmarshal(payload, &ev); err != nil {
			e.t.Fatalf("decode StockChanged: %v", err)
		}
		if ev.GetReservationId() == reservation.String() && ev.GetReason() == reason {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		e.t.Fatalf("read outbox: %v", err)
	}
	return n
}

// inbox lists the event ids the consumer of cancelled orders committed,
// oldest first.
func (e *env) inbox() []string {
	e.t.Helper()
	return e.inboxOf(cancelDurable)
}

// inboxOf lists the event ids the durable consumer committed, oldest first.
func (e *env) inboxOf(durable string) []string {
	e.t.Helper()
	rows, err := e.pool().Query(e.t.Context(),
		`SELECT event_id FROM consumer_inbox WHERE consumer = $1 ORDER BY processed_at, event_id`, durable)
	if err != nil {
		e.t.Fatalf("read inbox: %v", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatalf("read inbox: %v", err)
	}
	return ids
}
