package server_test

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
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
)

// badFields returns the fields named by err's BadRequest detail.
func badFields(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

func TestTrackEventValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	now := time.Now()
	props := map[string]string{}
	for i := range 65 {
		props[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name  string
		edit  func(*analyticsv1.Event)
		field string
	}{
		{"event id not a uuid", func(ev *analyticsv1.Event) { ev.EventId = "nope" }, "event.event_id"},
		{"name with capitals", func(ev *analyticsv1.Event) { ev.EventName = "ProductViewed" }, "event.event_name"},
		{"empty name", func(ev *analyticsv1.Event) { ev.EventName = "" }, "event.event_name"},
		{"no time", func(ev *analyticsv1.Event) { ev.OccurredAt = nil }, "event.occurred_at"},
		{"product not a uuid", func(ev *analyticsv1.Event) { ev.ProductId = "lamp" }, "event.product_id"},
		{"user id too long", func(ev *analyticsv1.Event) { ev.UserId = strings.Repeat("u", 129) }, "event.user_id"},
		{"too many properties", func(ev *analyticsv1.Event) { ev.Properties = props }, "event.properties"},
		{"property value too long", func(ev *analyticsv1.Event) { ev.Properties = map[string]string{"k": strings.Repeat("v", 1025)} }, "event.properties[\"k\"]"},
		{"in the future beyond the skew", func(ev *analyticsv1.Event) { ev.OccurredAt = timestamppb.New(now.Add(time.Hour)) }, "event.occurred_at"},
		{"older than the retention", func(ev *analyticsv1.Event) { ev.OccurredAt = timestamppb.New(now.Add(-31 * 24 * time.Hour)) }, "event.occurred_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := event("product_viewed", uuid.New(), now)
			tt.edit(ev)
			_, err := a.client.TrackEvent(t.Context(), &analyticsv1.TrackEventRequest{Event: ev})
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want INVALID_ARGUMENT", status.Code(err), err)
			}
			if fields := badFields(err); len(fields) == 0 || fields[0] != tt.field {
				t.Errorf("fields = %v, want %s first", fields, tt.field)
			}
		})
	}
	if _, err := a.client.TrackEvent(t.Context(), &analyticsv1.TrackEventRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no event: %v, want INVALID_ARGUMENT", err)
	}
	if n := e.count(`SELECT count(*) FROM events`); n != 0 {
		t.Errorf("%d events stored from invalid requests", n)
	}
}

func TestTrackEventStoresOnceUnderConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	product := uuid.New()
	ev := event("product_viewed", product, time.Now().Add(-time.Minute))
	ev.Properties = map[string]string{"page": "/lamps"}

	const n = 20
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		duplicates int
		errs       []error
	)
	for range n {
		wg.Go(func() {
			resp, err := a.client.TrackEvent(t.Context(), &analyticsv1.TrackEventRequest{Event: ev})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if resp.GetEventId() != ev.GetEventId() {
				errs = append(errs, fmt.Errorf("event id %q, want %q", resp.GetEventId(), ev.GetEventId()))
			}
			if resp.GetDuplicate() {
				duplicates++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d calls failed; first: %v", len(errs), errs[0])
	}
	if duplicates != n-1 {
		t.Errorf("%d of %d answers say duplicate, want %d", duplicates, n, n-1)
	}
	if got := e.count(`SELECT count(*) FROM events WHERE event_id = $1`, ev.GetEventId()); got != 1 {
		t.Errorf("event stored %d times, want once", got)
	}
	e.fold(a)
	if got := e.count(`SELECT views FROM product_counts WHERE product_id = $1 AND width_minutes = 1`, product); got != 1 {
		t.Errorf("minute views = %d, want 1", got)
	}
	if got := e.count(`SELECT views FROM product_counts WHERE product_id = $1 AND width_minutes = 60`, product); got != 1 {
		t.Errorf("hour views = %d, want 1", got)
	}
	var page string
	if err := e.pool().QueryRow(t.Context(), `SELECT properties->>'page' FROM events WHERE event_id = $1`, ev.GetEventId()).Scan(&page); err != nil || page != "/lamps" {
		t.Errorf("stored properties page = %q (%v), want /lamps", page, err)
	}
}

// sendStream sends events on a new stream, as a service, and returns the
// answer.
func (e *env) sendStream(ctx context.Context, a *instance, events []*analyticsv1.Event) (*analyticsv1.StreamEventsResponse, error) {
	e.t.Helper()
	stream, err := a.client.StreamEvents(ctx, e.service())
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		if err := stream.Send(&analyticsv1.StreamEventsRequest{Event: ev}); err != nil {
			break // the server ended the stream; CloseAndRecv says why
		}
	}
	return stream.CloseAndRecv()
}

// sendPacked streams events, per to a message.
func (e *env) sendPacked(ctx context.Context, a *instance, events []*analyticsv1.Event, per int) (*analyticsv1.StreamEventsResponse, error) {
	stream, err := a.client.StreamEvents(ctx, e.service())
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(events); i += per {
		if err := stream.Send(&analyticsv1.StreamEventsRequest{Events: events[i:min(i+per, len(events))]}); err != nil {
			break // the server ended the stream; CloseAndRecv says why
		}
	}
	return stream.CloseAndRecv()
}

// productIDs makes n product ids.
func productIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	return ids
}

func TestStreamEventsRejectsBadEventsAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(map[string]string{"STREAM_BATCH_SIZE": "500"})
	product := uuid.New()
	base := time.Now().Add(-time.Hour)
	events := make([]*analyticsv1.Event, 10000)
	bad := map[int64]bool{}
	for i := range events {
		events[i] = event("product_viewed", product, base.Add(time.Duration(i)*time.Millisecond))
		if i%1000 == 999 {
			bad[int64(i)] = true
			switch i % 3 {
			case 0:
				events[i].EventId = "not-a-uuid"
			case 1:
				events[i].EventName = "Bad Name"
			default:
				events[i].OccurredAt = timestamppb.New(time.Now().Add(48 * time.Hour))
			}
		}
	}
	resp, err := e.sendStream(t.Context(), a, events)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAcceptedCount() != 9990 || resp.GetRejectedCount() != 10 || len(resp.GetRejected()) != 10 {
		t.Fatalf("accepted %d, rejected %d (%d listed), want 9990 and 10", resp.GetAcceptedCount(), resp.GetRejectedCount(), len(resp.GetRejected()))
	}
	for _, r := range resp.GetRejected() {
		if !bad[r.GetIndex()] || r.GetReason() == "" || r.GetEventId() != events[r.GetIndex()].GetEventId() {
			t.Errorf("rejected %+v: not one of the bad events, or no reason", r)
		}
	}
	if got := e.count(`SELECT count(*) FROM events`); got != 9990 {
		t.Errorf("%d events stored, want 9990", got)
	}
	e.fold(a)
	if got := e.count(`SELECT sum(views) FROM product_counts WHERE product_id = $1 AND width_minutes = 1`, product); got != 9990 {
		t.Errorf("views counted %d, want 9990", got)
	}

	// The same stream again, packed many to a message: every good event
	// is a duplicate, stored once, and the bad ones keep their indexes.
	again, err := e.sendPacked(t.Context(), a, events, 333)
	if err != nil {
		t.Fatal(err)
	}
	if again.GetAcceptedCount() != 9990 || again.GetDuplicateCount() != 9990 || again.GetRejectedCount() != 10 {
		t.Errorf("resent stream: accepted %d, duplicates %d, rejected %d, want 9990, 9990 and 10",
			again.GetAcceptedCount(), again.GetDuplicateCount(), again.GetRejectedCount())
	}
	for _, r := range again.GetRejected() {
		if !bad[r.GetIndex()] || r.GetEventId() != events[r.GetIndex()].GetEventId() {
			t.Errorf("packed stream rejected %+v: not one of the bad events", r)
		}
	}
	if got := e.count(`SELECT count(*) FROM events`); got != 9990 {
		t.Errorf("%d events stored after the resend, want 9990", got)
	}
	e.fold(a)
	if got := e.count(`SELECT sum(views) FROM product_counts WHERE product_id = $1 AND width_minutes = 60`, product); got != 9990 {
		t.Errorf("views counted %d after the resend, want 9990", got)
	}
}

func TestStreamEventsNumbersPackedMessagesInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	at := time.Now().Add(-time.Minute)
	many := make([]*analyticsv1.Event, 1002)
	for i := range many {
		many[i] = event("product_viewed", uuid.New(), at)
	}
	stream, err := a.client.StreamEvents(t.Context(), e.service())
	if err != nil {
		t.Fatal(err)
	}
	single, first, second := event("add_to_cart", uuid.Nil, at), event("add_to_cart", uuid.Nil, at), event("add_to_cart", uuid.Nil, at)
	for _, msg := range []*analyticsv1.StreamEventsRequest{
		{Event: single}, // index 0
		{},              // index 1: no event at all
		{Event: first, Events: []*analyticsv1.Event{second}}, // 2 and 3
		{Events: many}, // 4 to 1005; the last 2 are past the per-message bound
	} {
		if err := stream.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAcceptedCount() != 1003 || resp.GetRejectedCount() != 3 {
		t.Fatalf("accepted %d, rejected %d; want 1003 and 3", resp.GetAcceptedCount(), resp.GetRejectedCount())
	}
	want := []struct {
		index int64
		id    string
	}{{1, ""}, {1004, many[1000].GetEventId()}, {1005, many[1001].GetEventId()}}
	for i, r := range resp.GetRejected() {
		if r.GetIndex() != want[i].index || r.GetEventId() != want[i].id || r.GetReason() == "" {
			t.Errorf("rejection %d: %+v, want index %d id %q with a reason", i, r, want[i].index, want[i].id)
		}
	}
	for _, ev := range []*analyticsv1.Event{single, first, second, many[999]} {
		if got := e.count(`SELECT count(*) FROM events WHERE event_id = $1`, uuid.MustParse(ev.GetEventId())); got != 1 {
			t.Errorf("event %s stored %d times, want once", ev.GetEventId(), got)
		}
	}
	if got := e.count(`SELECT count(*) FROM events WHERE event_id = $1`, uuid.MustParse(many[1000].GetEventId())); got != 0 {
		t.Errorf("event past the per-message bound stored %d times", got)
	}
}

func TestStreamEventsWritesLargeEventsInSmallerBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(map[string]string{"STREAM_BATCH_SIZE": "1000", "STREAM_BATCH_BYTES": "200000", "STREAM_FLUSH_INTERVAL": "1h"})
	stream, err := a.client.StreamEvents(t.Context(), e.service())
	if err != nil {
		t.Fatal(err)
	}
	// Each event holds about 64 KiB of properties, so a batch is full after
	// four of them, long before its 1000 events.
	big := strings.Repeat("x", 1000)
	for range 10 {
		ev := event("product_viewed", uuid.New(), time.Now().Add(-time.Minute))
		ev.Properties = map[string]string{}
		for k := range 64 {
			ev.Properties[fmt.Sprintf("k%02d", k)] = big
		}
		if err := stream.Send(&analyticsv1.StreamEventsRequest{Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "full batches of large events written while the stream is open", func() bool {
		return e.count(`SELECT count(*) FROM events`) >= 8
	})
	resp, err := stream.CloseAndRecv()
	if err != nil || resp.GetAcceptedCount() != 10 {
		t.Fatalf("accepted %d: %v, want 10", resp.GetAcceptedCount(), err)
	}
	if got := e.count(`SELECT count(*) FROM events`); got != 10 {
		t.Errorf("%d events stored, want 10", got)
	}
}

func TestConcurrentStreamsOfTheSameEventsStoreAndCountThemOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(map[string]string{"STREAM_BATCH_SIZE": "200", "STREAM_WRITES": "3"})
	products := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	at := time.Now().Add(-time.Hour)
	events := make([]*analyticsv1.Event, 3000)
	for i := range events {
		events[i] = event("product_viewed", products[i%len(products)], at.Add(time.Duration(i)*time.Second))
	}
	// Three clients send the same events at once, in different orders and
	// packings, so batches of different streams and of one stream overlap.
	reversed := slices.Clone(events)
	slices.Reverse(reversed)
	results := make([]*analyticsv1.StreamEventsResponse, 3)
	var wg sync.WaitGroup
	for i, send := range []func() (*analyticsv1.StreamEventsResponse, error){
		func() (*analyticsv1.StreamEventsResponse, error) { return e.sendStream(t.Context(), a, events) },
		func() (*analyticsv1.StreamEventsResponse, error) { return e.sendPacked(t.Context(), a, events, 250) },
		func() (*analyticsv1.StreamEventsResponse, error) { return e.sendPacked(t.Context(), a, reversed, 70) },
	} {
		wg.Go(func() {
			resp, err := send()
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
			}
			results[i] = resp
		})
	}
	wg.Wait()
	var duplicates int64
	for i, r := range results {
		if r.GetAcceptedCount() != 3000 || r.GetRejectedCount() != 0 {
			t.Errorf("stream %d: accepted %d, rejected %d; want 3000 and 0", i, r.GetAcceptedCount(), r.GetRejectedCount())
		}
		duplicates += r.GetDuplicateCount()
	}
	if duplicates != 6000 {
		t.Errorf("%d duplicates over the three streams, want 6000: each event new exactly once", duplicates)
	}
	if got := e.count(`SELECT count(*) FROM events`); got != 3000 {
		t.Errorf("%d events stored, want 3000", got)
	}
	e.fold(a)
	for _, width := range []int{1, 60} {
		if got := e.count(`SELECT sum(views) FROM product_counts WHERE width_minutes = $1`, width); got != 3000 {
			t.Errorf("width %d: %d views counted, want 3000", width, got)
		}
	}
}

func TestStreamEventsDedupesWithinAndAcrossBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(map[string]string{"STREAM_BATCH_SIZE": "100"})
	base := time.Now().Add(-time.Hour)
	var events []*analyticsv1.Event
	for i := range 250 {
		events = append(events, event("add_to_cart", uuid.Nil, base.Add(time.Duration(i)*time.Second)))
	}
	// 30 repeats inside the first batch, 20 of the first batch in later ones.
	stream := append([]*analyticsv1.Event{}, events[:70]...)
	stream = append(stream, events[:30]...)
	stream = append(stream, events[70:]...)
	stream = append(stream, events[:20]...)
	resp, err := e.sendStream(t.Context(), a, stream)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAcceptedCount() != 300 || resp.GetDuplicateCount() != 50 {
		t.Errorf("accepted %d, duplicates %d, want 300 and 50", resp.GetAcceptedCount(), resp.GetDuplicateCount())
	}
	if got := e.count(`SELECT count(*) FROM events`); got != 250 {
		t.Errorf("%d events stored, want 250", got)
	}
}

func TestStreamEventsCapEndsTheStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(map[string]string{"STREAM_MAX_EVENTS": "100", "STREAM_BATCH_SIZE": "30"})
	var events []*analyticsv1.Event
	for range 150 {
		events = append(events, event("product_viewed", uuid.New(), time.Now().Add(-time.Minute)))
	}
	_, err := e.sendStream(t.Context(), a, events)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("stream over the cap: %v, want RESOURCE_EXHAUSTED", err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "100 of them accepted and stored") {
		t.Errorf("message %q does not say how many were stored", msg)
	}
	if got := e.count(`SELECT count(*) FROM events`); got != 100 {
		t.Errorf("%d events stored, want the 100 under the cap", got)
	}
}

func TestStreamEventsClientGoneKeepsExactlyTheWrittenBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(map[string]string{"STREAM_BATCH_SIZE": "100", "STREAM_FLUSH_INTERVAL": "1h"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := a.client.StreamEvents(ctx, e.service())
	if err != nil {
		t.Fatal(err)
	}
	for range 250 {
		if err := stream.Send(&analyticsv1.StreamEventsRequest{Event: event("product_viewed", uuid.New(), time.Now().Add(-time.Minute))}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "two full batches written", func() bool { return e.count(`SELECT count(*) FROM events`) == 200 })
	cancel()
	_, err = stream.CloseAndRecv()
	if status.Code(err) != codes.Canceled && !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled stream: %v", err)
	}
	// Let the server notice; the 50 queued events must not be written.
	time.Sleep(300 * time.Millisecond)
	if got := e.count(`SELECT count(*) FROM events`); got != 200 {
		t.Errorf("%d events stored after the client left, want exactly the 200 of the written batches", got)
	}
}

func TestStreamEventsNeedsAServiceToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	stream, err := a.client.StreamEvents(t.Context())
	if err == nil {
		_, err = stream.CloseAndRecv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("stream without a token: %v, want UNAUTHENTICATED", err)
	}
}
