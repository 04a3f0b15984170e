package server_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

func partitionName(t time.Time) string { return "events_" + t.UTC().Format("20060102") }

func (e *env) partitionExists(name string) bool {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass AND c.relname = $1`, name) == 1
}

func TestRetentionDropsOldPartitionsAndKeepsTheCounters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(map[string]string{"EVENTS_RETENTION": "72h", "EVENTS_PARTITIONS_AHEAD": "2"})
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for d := -3; d <= 2; d++ {
		if name := partitionName(today.AddDate(0, 0, d)); !e.partitionExists(name) {
			t.Errorf("partition %s missing after start", name)
		}
	}

	// Events of two days: two old enough to expire once the clock moves on
	// (here: once the retention shrinks), one recent.
	p := uuid.New()
	old := time.Now().UTC().Add(-50 * time.Hour)
	track(t, a, event("product_viewed", p, old), event("product_viewed", p, old),
		event("product_viewed", p, time.Now().Add(-time.Minute)))
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

	// A replica with a one-day retention drops every partition that ends
	// before a day ago, at start and every interval.
	a = e.start(map[string]string{"EVENTS_RETENTION": "24h", "EVENTS_PARTITION_INTERVAL": "100ms"})
	eventually(t, "old partitions dropped", func() bool { return !e.partitionExists(partitionName(old)) })
	if !e.partitionExists(partitionName(today)) {
		t.Error("today's partition was dropped")
	}
	if got := e.count(`SELECT count(*) FROM events`); got != 1 {
		t.Errorf("%d raw events left, want only the recent one", got)
	}
	// The counters outlive the raw events.
	st := e.stats(a, p, old.Add(-time.Hour), time.Now()).GetStats()
	if st.GetViews() != 3 {
		t.Errorf("views over both days = %d, want 3 after the old raw events were dropped", st.GetViews())
	}
}

func TestEventForAMissingPartitionIsStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	yesterday := time.Now().UTC().Add(-24 * time.Hour)
	name := partitionName(yesterday)
	if _, err := e.pool().Exec(t.Context(), `DROP TABLE `+name); err != nil {
		t.Fatal(err)
	}
	ev := event("product_viewed", uuid.New(), yesterday)
	if _, err := a.client.TrackEvent(t.Context(), &analyticsv1.TrackEventRequest{Event: ev}); err != nil {
		t.Fatalf("track an event for a day without a partition: %v", err)
	}
	if !e.partitionExists(name) {
		t.Errorf("partition %s not created for the event", name)
	}
	// And a stream whose batch spans a missing day.
	if _, err := e.pool().Exec(t.Context(), `DROP TABLE `+name); err != nil {
		t.Fatal(err)
	}
	resp, err := e.sendStream(t.Context(), a, []*analyticsv1.Event{
		event("product_viewed", uuid.New(), yesterday), event("product_viewed", uuid.New(), time.Now().Add(-time.Minute)),
	})
	if err != nil || resp.GetAcceptedCount() != 2 {
		t.Fatalf("stream over a missing partition: %v, %v", resp, err)
	}
	if got := e.count(`SELECT count(*) FROM events`); got != 2 {
		t.Errorf("%d events stored, want the streamed 2 (the first was in the dropped partition)", got)
	}
}

func TestRecreatedConsumerNeverCountsTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	p := uuid.New()
	at := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	for range 5 {
		e.publish("orders.order.placed", &ordersv1.OrderPlaced{OrderId: uuid.NewString(), OccurredAt: timestamppb.New(at),
			Lines: []*ordersv1.OrderLine{orderLine(p, 1, 100, "EUR")}}, uuid.NewString())
	}
	eventually(t, "five orders counted", func() bool { return e.stats(a, p, at, at.Add(time.Minute)).GetStats().GetOrders() == 5 })
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	// The durable consumer is lost; the next replica creates it again and
	// is handed the stream's history again.
	if err := e.js.DeleteConsumer(t.Context(), "ORDERS", "analytics-order-placed"); err != nil {
		t.Fatal(err)
	}
	a = e.start(nil)
	e.publish("orders.order.placed", &ordersv1.OrderPlaced{OrderId: uuid.NewString(), OccurredAt: timestamppb.New(at),
		Lines: []*ordersv1.OrderLine{orderLine(p, 1, 100, "EUR")}}, uuid.NewString())
	eventually(t, "the sixth order counted", func() bool { return e.stats(a, p, at, at.Add(time.Minute)).GetStats().GetOrders() >= 6 })
	eventually(t, "the recreated consumer caught up", func() bool {
		c, err := e.js.Consumer(t.Context(), "ORDERS", "analytics-order-placed")
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	if got := e.stats(a, p, at, at.Add(time.Minute)).GetStats().GetOrders(); got != 6 {
		t.Errorf("orders = %d after the consumer was recreated, want 6", got)
	}
}
