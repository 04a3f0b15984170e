package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	"github.com/storefront-go/storefront/libs/testenv"
)

const (
	trackedA = "0190f6a0-0000-7000-8000-0000000000e1"
	trackedB = "0190f6a0-0000-7000-8000-0000000000e2"
)

// fakeAnalytics is an AnalyticsService that keeps the events it got,
// answers a repeated event id as a duplicate, rejects events named "bad"
// and ends a stream after streamCap events.
type fakeAnalytics struct {
	analyticsv1.UnimplementedAnalyticsServiceServer

	streamCap int

	mu       sync.Mutex
	messages int // StreamEvents messages received
	events   []*analyticsv1.Event
	seen     map[string]bool
	stats    []*analyticsv1.GetProductStatsRequest
	tops     []*analyticsv1.TopProductsRequest
}

func (f *fakeAnalytics) keep(ev *analyticsv1.Event) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	f.events = append(f.events, ev)
	dup := f.seen[ev.GetEventId()]
	f.seen[ev.GetEventId()] = true
	return dup
}

func (f *fakeAnalytics) got() []*analyticsv1.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*analyticsv1.Event(nil), f.events...)
}

func (f *fakeAnalytics) TrackEvent(_ context.Context, req *analyticsv1.TrackEventRequest) (*analyticsv1.TrackEventResponse, error) {
	if req.GetEvent().GetEventName() == "bad" {
		return nil, status.Error(codes.InvalidArgument, "event_name: bad is not allowed")
	}
	dup := f.keep(req.GetEvent())
	return &analyticsv1.TrackEventResponse{EventId: req.GetEvent().GetEventId(), Duplicate: dup}, nil
}

func (f *fakeAnalytics) StreamEvents(stream grpc.ClientStreamingServer[analyticsv1.StreamEventsRequest, analyticsv1.StreamEventsResponse]) error {
	resp := &analyticsv1.StreamEventsResponse{}
	var i int64
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(resp)
		}
		if err != nil {
			return err
		}
		events := req.GetEvents()
		if req.GetEvent() != nil {
			events = append([]*analyticsv1.Event{req.GetEvent()}, events...)
		}
		f.mu.Lock()
		f.messages++
		f.mu.Unlock()
		for _, ev := range events {
			if f.streamCap > 0 && i >= int64(f.streamCap) {
				return status.Errorf(codes.ResourceExhausted, "stream cap of %d events reached; %d stored", f.streamCap, resp.GetAcceptedCount())
			}
			if ev.GetEventName() == "bad" {
				resp.RejectedCount++
				resp.Rejected = append(resp.Rejected, &analyticsv1.RejectedEvent{Index: i, EventId: ev.GetEventId(), Reason: "event_name: bad is not allowed"})
			} else {
				resp.AcceptedCount++
				if f.keep(ev) {
					resp.DuplicateCount++
				}
			}
			i++
		}
	}
}

func (f *fakeAnalytics) GetProductStats(_ context.Context, req *analyticsv1.GetProductStatsRequest) (*analyticsv1.GetProductStatsResponse, error) {
	f.mu.Lock()
	f.stats = append(f.stats, req)
	f.mu.Unlock()
	return &analyticsv1.GetProductStatsResponse{
		Stats: &analyticsv1.ProductStats{
			ProductId: req.GetProductId(), Name: "Blue Mug", CategoryId: "kitchen",
			Views: 12, AddToCarts: 3, Orders: 2, UnitsSold: 5,
			Revenue: []*analyticsv1.Money{{AmountMinor: 6495, CurrencyCode: "EUR"}},
		},
		WindowStart: req.GetStartTime(), WindowEnd: req.GetEndTime(),
	}, nil
}

func (f *fakeAnalytics) TopProducts(_ context.Context, req *analyticsv1.TopProductsRequest) (*analyticsv1.TopProductsResponse, error) {
	f.mu.Lock()
	f.tops = append(f.tops, req)
	f.mu.Unlock()
	return &analyticsv1.TopProductsResponse{
		Products: []*analyticsv1.ProductStats{
			{ProductId: mugID, Name: "Blue Mug", UnitsSold: 5, Revenue: []*analyticsv1.Money{{AmountMinor: 6495, CurrencyCode: "EUR"}}},
			{ProductId: teaID, Name: "Green Tea", UnitsSold: 1},
		},
		WindowStart: req.GetStartTime(), WindowEnd: req.GetEndTime(),
	}, nil
}

func startAnalytics(t *testing.T, f *fakeAnalytics) map[string]string {
	t.Helper()
	addr := testenv.ServeGRPC(t, func(srv *grpc.Server) { analyticsv1.RegisterAnalyticsServiceServer(srv, f) })
	return map[string]string{"STOREFRONT_ANALYTICS_ADDR": addr}
}

func TestEventsSend(t *testing.T) {
	t.Parallel()
	f := &fakeAnalytics{}
	env := startAnalytics(t, f)
	input := strings.Join([]string{
		`{"event_id":"` + trackedA + `","event_name":"product_viewed","product_id":"` + mugID + `","occurred_at":"2026-12-06T10:00:00Z"}`,
		``,
		`{"eventId":"` + trackedA + `","eventName":"product_viewed"}`,
		`not json`,
		`{"event_name":"bad"}`,
		`{"event_name":"add_to_cart","user_id":"u1"}`,
	}, "\n")
	r := runCLIInput(t, env, input, "events", "send")
	if r.code != exitError {
		t.Fatalf("exit %d, want %d (two lines failed); stderr:\n%s", r.code, exitError, r.stderr)
	}
	out := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(out) != 3 || out[0] != trackedA+"  stored" || out[1] != trackedA+"  duplicate" || !strings.HasSuffix(out[2], "  stored") {
		t.Errorf("stdout:\n%s\nwant the first event stored, its repeat a duplicate, the last stored", r.stdout)
	}
	for _, want := range []string{"line 4: not an event", "line 5 (event ", "INVALID_ARGUMENT: event_name: bad", "got a new one (2)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	got := f.got()
	if len(got) != 3 {
		t.Fatalf("server got %d events, want 3", len(got))
	}
	if !got[0].GetOccurredAt().AsTime().Equal(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("occurred_at %v, want the one given", got[0].GetOccurredAt().AsTime())
	}
	last := got[2]
	if _, err := uuid.Parse(last.GetEventId()); err != nil || last.GetUserId() != "u1" {
		t.Errorf("event without id: id %q user %q, want a new UUID and u1", last.GetEventId(), last.GetUserId())
	}
	if age := time.Since(last.GetOccurredAt().AsTime()); age < 0 || age > time.Minute {
		t.Errorf("event without occurred_at got %v, want now", last.GetOccurredAt().AsTime())
	}
}

func TestEventsSendJSONFromFile(t *testing.T) {
	t.Parallel()
	f := &fakeAnalytics{}
	env := startAnalytics(t, f)
	file := filepath.Join(t.TempDir(), "events.jsonl")
	data := `{"event_id":"` + trackedA + `","event_name":"product_viewed"}` + "\n" + `{"event_id":"` + trackedB + `","event_name":"product_viewed"}` + "\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, env, "--json", "events", "send", "--file", file)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout:\n%s\nwant one JSON line per event", r.stdout)
	}
	resp := &analyticsv1.TrackEventResponse{}
	if err := protojson.Unmarshal([]byte(lines[1]), resp); err != nil || resp.GetEventId() != trackedB {
		t.Errorf("second line %q: %v, want the response for %s", lines[1], err, trackedB)
	}
	if strings.Contains(r.stderr, "got a new one") {
		t.Errorf("warned about generated ids though every event had one: %s", r.stderr)
	}
	r = runCLI(t, env, "events", "send", "--file", filepath.Join(t.TempDir(), "missing.jsonl"))
	if r.code != exitError || !strings.Contains(r.stderr, "open events") {
		t.Errorf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestEventsStream(t *testing.T) {
	t.Parallel()
	f := &fakeAnalytics{}
	env := startAnalytics(t, f)
	var b strings.Builder
	for i := range 50 {
		switch i {
		case 10, 30:
			b.WriteString(`{"event_name":"bad"}` + "\n")
		case 20:
			b.WriteString("{oops\n")
		default:
			b.WriteString(`{"event_name":"product_viewed","product_id":"` + mugID + `"}` + "\n")
		}
	}
	r := runCLIInput(t, env, b.String(), "events", "stream")
	if r.code != exitError {
		t.Fatalf("exit %d, want %d for the malformed line; stderr:\n%s", r.code, exitError, r.stderr)
	}
	// Line 21 never reached the server, so the server's index 29 is line 31.
	for _, want := range []string{
		"sent 49, accepted 47 (0 duplicates), rejected 2",
		"line 11  index 10  event ",
		"line 31  index 29  event ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "line 21: not an event") {
		t.Errorf("stderr lacks the malformed line:\n%s", r.stderr)
	}
	if n := len(f.got()); n != 47 {
		t.Errorf("server kept %d events, want 47", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.messages != 1 {
		t.Errorf("%d messages for 49 events, want them packed into one", f.messages)
	}
}

func TestEventsStreamCapEndsWithTheServerStatus(t *testing.T) {
	t.Parallel()
	f := &fakeAnalytics{streamCap: 5}
	env := startAnalytics(t, f)
	var b strings.Builder
	for range 2000 {
		b.WriteString(`{"event_name":"product_viewed"}` + "\n")
	}
	r := runCLIInput(t, env, b.String(), "events", "stream")
	if r.code != exitError || !strings.Contains(r.stderr, "RESOURCE_EXHAUSTED: stream cap of 5 events reached; 5 stored") {
		t.Errorf("exit %d, stderr:\n%s\nwant the server's RESOURCE_EXHAUSTED", r.code, r.stderr)
	}
}

func TestStatsProduct(t *testing.T) {
	t.Parallel()
	f := &fakeAnalytics{}
	env := startAnalytics(t, f)
	r := runCLI(t, env, "stats", "product", "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02T00:00:00Z", mugID)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"name:        Blue Mug (kitchen)",
		"window:      2026-12-01T00:00:00Z .. 2026-12-02T00:00:00Z",
		"views:       12", "add to cart: 3", "orders:      2", "units sold:  5", "revenue:     64.95 EUR",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, env, "--json", "stats", "product", "--since", "1h", mugID)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	resp := &analyticsv1.GetProductStatsResponse{}
	if err := protojson.Unmarshal([]byte(r.stdout), resp); err != nil || resp.GetStats().GetViews() != 12 {
		t.Errorf("--json output %q: %v", r.stdout, err)
	}
	f.mu.Lock()
	req := f.stats[1]
	f.mu.Unlock()
	if d := req.GetEndTime().AsTime().Sub(req.GetStartTime().AsTime()); d != time.Hour {
		t.Errorf("--since 1h sent a window of %v", d)
	}
}

func TestStatsTop(t *testing.T) {
	t.Parallel()
	f := &fakeAnalytics{}
	env := startAnalytics(t, f)
	r := runCLI(t, env, "stats", "top", "--metric", "revenue", "--currency", "eur", "--limit", "2")
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.Contains(lines[2], mugID) || !strings.Contains(lines[2], "64.95 EUR") ||
		!strings.Contains(lines[3], "0.00 EUR") || !strings.HasPrefix(strings.TrimSpace(lines[3]), "2 ") {
		t.Errorf("stdout:\n%s\nwant a window line, a header and two ranked rows", r.stdout)
	}
	f.mu.Lock()
	req := f.tops[0]
	f.mu.Unlock()
	if req.GetMetric() != analyticsv1.Metric_METRIC_REVENUE || req.GetCurrencyCode() != "EUR" || req.GetLimit() != 2 {
		t.Errorf("request %v", req)
	}
	if d := req.GetEndTime().AsTime().Sub(req.GetStartTime().AsTime()); d != 24*time.Hour {
		t.Errorf("default window %v, want 24h", d)
	}
}

func TestAnalyticsUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"events"},
		{"events", "replay"},
		{"events", "send", "extra"},
		{"stats"},
		{"stats", "product"},
		{"stats", "product", "--from", "yesterday", mugID},
		{"stats", "product", "--since", "0s", mugID},
		{"stats", "top"},
		{"stats", "top", "--metric", "unspecified"},
		{"stats", "top", "--metric", "VIEWS"},
		{"stats", "top", "--metric", "views", "--limit", "99999999999"},
	} {
		if r := runCLI(t, nil, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %q", args, r.code, exitUsage, r.stderr)
		}
	}
}

func TestWindowBounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	w := window{since: 24 * time.Hour, from: "2026-12-06T10:00:00Z"}
	start, end, err := w.bounds("x", now)
	if err != nil {
		t.Fatal(err)
	}
	if !start.AsTime().Equal(now.Add(-2*time.Hour)) || !end.AsTime().Equal(now) {
		t.Errorf("--from alone: %v .. %v, want 10:00 .. now", start.AsTime(), end.AsTime())
	}
	want := timestamppb.New(now.Add(-24 * time.Hour))
	if start, _, _ := (&window{since: 24 * time.Hour}).bounds("x", now); !start.AsTime().Equal(want.AsTime()) {
		t.Errorf("default start %v, want %v", start.AsTime(), want.AsTime())
	}
}
