package consumer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/storefront-go/storefront/libs/broker"
)

func TestRunnerProcessesEveryEventOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "happy"
	evs := newEvents(50)
	for _, ev := range evs {
		e.publish(t, ev, nil)
	}
	h := &sideEffectHandler{}
	start(t, e.newRunner(t, Config{Durable: durable, AckWait: 10 * time.Second}, h.handle))

	eventually(t, "50 side effects", func() bool {
		return e.count(t, `SELECT count(*) FROM side_effects`) == len(evs)
	})
	eventually(t, "pending gauge at 0", func() bool {
		v, ok := e.metric(t, "storefront_consumer_pending", map[string]string{"consumer": durable})
		return ok && v == 0
	})

	var want, got []string
	for _, ev := range evs {
		want = append(want, ev.id+" "+ev.msg.GetProductId())
	}
	rows, err := e.pool.Query(t.Context(), `SELECT event_id || ' ' || product_id FROM side_effects ORDER BY event_id`)
	if err != nil {
		t.Fatalf("query side effects: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("scan: %v", err)
		}
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read side effects: %v", err)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("side effects mismatch (-want +got):\n%s", diff)
	}
	if n := e.count(t, `SELECT count(*) FROM consumer_inbox WHERE consumer = $1 AND subject = $2`, durable, testSubject); n != len(evs) {
		t.Errorf("inbox rows = %d, want %d", n, len(evs))
	}
	if got := e.outcome(t, durable, outcomeProcessed); got != len(evs) {
		t.Errorf("processed count = %d, want %d", got, len(evs))
	}
	info := e.consumerInfo(t, durable)
	if info.NumPending != 0 || info.NumAckPending != 0 {
		t.Errorf("consumer pending = %d, ack pending = %d; want 0, 0", info.NumPending, info.NumAckPending)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // migrated once already
	if err := Migrate(t.Context(), e.pool); err != nil {
		t.Fatalf("second Migrate() error = %v", err)
	}
	if _, err := e.pool.Exec(t.Context(), insertInbox, "c", "e-1", "s", 1); err != nil {
		t.Fatalf("insert into inbox: %v", err)
	}
	tag, err := e.pool.Exec(t.Context(), insertInbox, "c", "e-1", "s", 1)
	if err != nil {
		t.Fatalf("insert duplicate into inbox: %v", err)
	}
	if tag.RowsAffected() != 0 {
		t.Errorf("duplicate inbox insert affected %d rows, want 0", tag.RowsAffected())
	}
	if n := e.count(t, `SELECT count(*) FROM consumer_inbox WHERE processed_at IS NOT NULL`); n != 1 {
		t.Errorf("inbox rows = %d, want 1", n)
	}
}

func TestRunnerWaitsForItsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "late"
	h := &sideEffectHandler{}
	start(t, e.newRunner(t, Config{Stream: "LATE", Durable: durable}, h.handle))

	// The producer provisions its stream after the consumer started.
	if _, err := broker.EnsureStream(t.Context(), e.js, broker.StreamSpec{Name: "LATE", Subjects: []string{"late.>"}}); err != nil {
		t.Fatalf("ensure stream: %v", err)
	}
	ev := newEvents(1)[0]
	e.publishOn(t, "late.stock.changed", ev, nil)
	// The handler runs inside the inbox transaction, so its side effect is
	// visible only once that commits: wait on the table, not on the call.
	eventually(t, "the event's side effect committed", func() bool {
		return e.count(t, `SELECT count(*) FROM side_effects WHERE event_id = $1`, ev.id) >= 1
	})
	if n := e.count(t, `SELECT count(*) FROM side_effects WHERE event_id = $1`, ev.id); n != 1 {
		t.Errorf("side effects = %d, want 1", n)
	}
	if n := h.callsFor(ev.id); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
}

func TestRunnerSurvivesNATSRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "outage"
	evs := newEvents(10)
	h := &sideEffectHandler{}
	start(t, e.newRunner(t, Config{Durable: durable, AckWait: 5 * time.Second}, h.handle))
	for _, ev := range evs[:5] {
		e.publish(t, ev, nil)
	}
	eventually(t, "events before the outage", func() bool {
		return e.count(t, `SELECT count(*) FROM side_effects`) == 5
	})

	e.srv.Restart(t)
	// The test's own client reconnects in the background; publishing before
	// it has would time out, which is not what this test is about.
	eventually(t, "test client reconnected", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := e.js.AccountInfo(ctx)
		return err == nil
	})
	for _, ev := range evs[5:] {
		e.publish(t, ev, nil)
	}
	eventually(t, "events after the outage", func() bool {
		return e.count(t, `SELECT count(*) FROM side_effects`) == len(evs)
	})
	if n := e.count(t, `SELECT count(DISTINCT event_id) FROM side_effects`); n != len(evs) {
		t.Errorf("distinct events with side effects = %d, want %d", n, len(evs))
	}
}

func TestRunnerSkipsRedeliveredEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "redelivery"
	evs := newEvents(3)
	target := evs[1].id
	for _, ev := range evs {
		e.publish(t, ev, nil)
	}

	// Leave the target's first delivery unacked after its commit, as if the
	// process died between commit and ack; JetStream redelivers it after AckWait.
	var mu sync.Mutex
	var skipped []uint64
	skipAck := func(o *options) {
		o.skipAck = func(m Message) bool {
			if m.ID != target {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			skipped = append(skipped, m.NumDelivered)
			return true
		}
	}
	h := &sideEffectHandler{}
	cfg := Config{Durable: durable, AckWait: time.Second, Backoff: []time.Duration{50 * time.Millisecond}}
	start(t, e.newRunner(t, cfg, h.handle, skipAck))

	// Three deliveries plus the redelivery, whatever their outcome.
	eventually(t, "four deliveries handled", func() bool {
		return e.outcome(t, durable, outcomeProcessed)+e.outcome(t, durable, outcomeDuplicate) >= len(evs)+1
	})
	eventually(t, "nothing left to ack", func() bool {
		return e.consumerInfo(t, durable).NumAckPending == 0
	})

	if n := e.count(t, `SELECT count(*) FROM side_effects WHERE event_id = $1`, target); n != 1 {
		t.Errorf("side effects for redelivered event = %d, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM side_effects`); n != len(evs) {
		t.Errorf("side effects = %d, want %d", n, len(evs))
	}
	if n := h.callsFor(target); n != 1 {
		t.Errorf("handler calls for redelivered event = %d, want 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]uint64{1}, skipped); diff != "" {
		t.Errorf("unacked deliveries mismatch (-want +got):\n%s", diff)
	}
	if got := e.outcome(t, durable, outcomeProcessed); got != len(evs) {
		t.Errorf("processed count = %d, want %d", got, len(evs))
	}
	if got := e.outcome(t, durable, outcomeDuplicate); got != 1 {
		t.Errorf("duplicate count = %d, want 1", got)
	}
}

// deadLetterView is what a test checks on a dead letter.
type deadLetterView struct {
	Subject         string
	MsgID           string
	EventID         string
	Type            string
	OriginalSubject string
	Consumer        string
	DeliveryCount   string
	Data            []byte
}

func viewDeadLetter(h nats.Header, subject string, data []byte) deadLetterView {
	return deadLetterView{
		Subject:         subject,
		MsgID:           h.Get(broker.HeaderMsgID),
		EventID:         h.Get(HeaderEventID),
		Type:            h.Get(broker.HeaderType),
		OriginalSubject: h.Get(broker.HeaderOriginalSubject),
		Consumer:        h.Get(broker.HeaderConsumer),
		DeliveryCount:   h.Get(broker.HeaderDeliveryCount),
		Data:            data,
	}
}

func TestRunnerDeadLettersPoisonEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "poison"
	evs := newEvents(21)
	poison := evs[10]
	for _, ev := range evs {
		e.publish(t, ev, nil)
	}
	h := &sideEffectHandler{fail: func(m Message) error {
		if m.ID == poison.id {
			return errors.New("poison pill\nsecond line")
		}
		return nil
	}}
	cfg := Config{
		Durable:    durable,
		AckWait:    10 * time.Second,
		MaxDeliver: 3,
		Backoff:    []time.Duration{50 * time.Millisecond, 100 * time.Millisecond},
		FetchBatch: 4,
	}
	start(t, e.newRunner(t, cfg, h.handle))

	var dl nats.Header
	var dlSubject string
	var dlData []byte
	eventually(t, "the poison event on the dead-letter stream", func() bool {
		m := e.deadLetter(t, durable)
		if m == nil {
			return false
		}
		dl, dlSubject, dlData = m.Header, m.Subject, m.Data
		return true
	})
	eventually(t, "20 side effects", func() bool {
		return e.count(t, `SELECT count(*) FROM side_effects`) == len(evs)-1
	})
	eventually(t, "nothing left to ack", func() bool {
		info := e.consumerInfo(t, durable)
		return info.NumAckPending == 0 && info.NumPending == 0
	})

	want := deadLetterView{
		Subject:         "deadletter." + durable,
		MsgID:           durable + ":" + poison.id,
		EventID:         poison.id,
		Type:            "catalogue.v1.StockChanged",
		OriginalSubject: testSubject,
		Consumer:        durable,
		DeliveryCount:   "3",
		Data:            mustMarshal(t, poison.msg),
	}
	if diff := cmp.Diff(want, viewDeadLetter(dl, dlSubject, dlData)); diff != "" {
		t.Errorf("dead letter mismatch (-want +got):\n%s", diff)
	}
	if reason := dl.Get(broker.HeaderDeadLetterReason); !strings.Contains(reason, "poison pill second line") {
		t.Errorf("dead-letter reason = %q, want it to contain the handler error on one line", reason)
	}
	if n := h.callsFor(poison.id); n != 3 {
		t.Errorf("handler calls for poison event = %d, want 3", n)
	}
	if n := e.count(t, `SELECT count(*) FROM side_effects WHERE event_id = $1`, poison.id); n != 0 {
		t.Errorf("side effects of poison event = %d, want 0", n)
	}
	if n := e.count(t, `SELECT count(*) FROM consumer_inbox WHERE event_id = $1`, poison.id); n != 0 {
		t.Errorf("inbox rows of poison event = %d, want 0", n)
	}
	for outcome, want := range map[string]int{outcomeProcessed: 20, outcomeRetried: 2, outcomeDeadLettered: 1, outcomeDuplicate: 0} {
		if got := e.outcome(t, durable, outcome); got != want {
			t.Errorf("%s count = %d, want %d", outcome, got, want)
		}
	}
	if v, _ := e.metric(t, "storefront_consumer_dead_letters_total", map[string]string{"consumer": durable}); v != 1 {
		t.Errorf("dead letters total = %v, want 1", v)
	}
}

func TestRunnerDeadLettersPermanentErrorAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "permanent"
	evs := newEvents(3)
	bad := evs[0]
	for _, ev := range evs {
		e.publish(t, ev, nil)
	}
	h := &sideEffectHandler{fail: func(m Message) error {
		if m.ID == bad.id {
			return Permanent(errors.New("unsupported product"))
		}
		return nil
	}}
	cfg := Config{Durable: durable, AckWait: 10 * time.Second, MaxDeliver: 5, Backoff: []time.Duration{50 * time.Millisecond}}
	start(t, e.newRunner(t, cfg, h.handle))

	var dl nats.Header
	eventually(t, "the event on the dead-letter stream", func() bool {
		m := e.deadLetter(t, durable)
		if m != nil {
			dl = m.Header
		}
		return m != nil
	})
	eventually(t, "the other events processed", func() bool {
		return e.outcome(t, durable, outcomeProcessed) == len(evs)-1
	})
	eventually(t, "nothing left to ack", func() bool {
		return e.consumerInfo(t, durable).NumAckPending == 0
	})

	if got := dl.Get(broker.HeaderDeliveryCount); got != "1" {
		t.Errorf("delivery count header = %q, want 1", got)
	}
	if reason := dl.Get(broker.HeaderDeadLetterReason); !strings.Contains(reason, "unsupported product") {
		t.Errorf("dead-letter reason = %q, want it to contain the handler error", reason)
	}
	if n := h.callsFor(bad.id); n != 1 {
		t.Errorf("handler calls = %d, want 1", n)
	}
	if got := e.outcome(t, durable, outcomeRetried); got != 0 {
		t.Errorf("retried count = %d, want 0", got)
	}
}

// A message that kills the process whenever it is handled must not come
// back forever: each redelivery is counted before its handler runs, so the
// crashed attempts use up the budget. A crash is simulated twice over: a
// plain fetch takes the first delivery and never answers (first deliveries
// are not counted before the handler), and a consumer_attempts row stands
// for MaxDeliver redeliveries that were counted and then crashed.
func TestRunnerDeadLettersMessageWhoseAttemptsNeverFinished(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "crashed"
	const maxDeliver = 2
	ev := newEvents(1)[0]
	e.publish(t, ev, nil)
	cfg := Config{Durable: durable, AckWait: time.Second, MaxDeliver: maxDeliver, Backoff: []time.Duration{50 * time.Millisecond}}
	h := &sideEffectHandler{}
	r := e.newRunner(t, cfg, h.handle)

	cons, err := e.js.CreateOrUpdateConsumer(t.Context(), testStream, r.cfg.consumerConfig())
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var fetched int
	for range batch.Messages() {
		fetched++
	}
	if fetched != 1 {
		t.Fatalf("crashed runner fetched %d messages, want 1 (batch error %v)", fetched, batch.Error())
	}
	if _, err := e.pool.Exec(t.Context(), `INSERT INTO consumer_attempts (consumer, event_id, stream_seq, attempts) VALUES ($1, $2, 1, $3)`,
		durable, ev.id, maxDeliver); err != nil {
		t.Fatalf("record the crashed attempts: %v", err)
	}

	start(t, r)
	var dl nats.Header
	eventually(t, "the event on the dead-letter stream", func() bool {
		m := e.deadLetter(t, durable)
		if m != nil {
			dl = m.Header
		}
		return m != nil
	})
	if got := dl.Get(broker.HeaderDeliveryCount); got != "2" {
		t.Errorf("delivery count header = %q, want 2", got)
	}
	if reason := dl.Get(broker.HeaderDeadLetterReason); !strings.Contains(reason, errAttemptsExhausted.Error()) {
		t.Errorf("dead-letter reason = %q, want %q", reason, errAttemptsExhausted)
	}
	if n := h.callsFor(ev.id); n != 0 {
		t.Errorf("handler calls = %d, want 0: the attempts were used up by the crashed runners", n)
	}
	eventually(t, "nothing left to ack", func() bool {
		return e.consumerInfo(t, durable).NumAckPending == 0
	})
}

func TestRunnerDrainsInFlightMessageOnCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "drain"
	evs := newEvents(1)
	slow := evs[0]
	e.publish(t, slow, nil)

	started := make(chan struct{})
	release := make(chan struct{})
	handlerCtxErr := make(chan error, 1)
	h := &sideEffectHandler{fail: func(m Message) error {
		if m.ID != slow.id {
			return nil
		}
		close(started)
		select {
		case <-release:
		case <-time.After(waitTimeout):
		}
		return nil
	}}
	handle := func(ctx context.Context, m Message) error {
		err := h.handle(ctx, m)
		if m.ID == slow.id {
			handlerCtxErr <- ctx.Err()
		}
		return err
	}
	cfg := Config{Durable: durable, AckWait: 30 * time.Second, FetchBatch: 1}
	stop := start(t, e.newRunner(t, cfg, handle))

	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("handler never started")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run() error = %v", err)
	}

	// Run has returned: the message must be committed and acked by now.
	if err := <-handlerCtxErr; err != nil {
		t.Errorf("handler context error = %v, want nil (shutdown must not cancel in-flight work)", err)
	}
	if n := e.count(t, `SELECT count(*) FROM side_effects WHERE event_id = $1`, slow.id); n != 1 {
		t.Errorf("side effects = %d, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM consumer_inbox WHERE event_id = $1`, slow.id); n != 1 {
		t.Errorf("inbox rows = %d, want 1", n)
	}
	info := e.consumerInfo(t, durable)
	if info.NumAckPending != 0 || info.NumRedelivered != 0 || info.NumPending != 0 {
		t.Errorf("after drain: ack pending = %d, redelivered = %d, pending = %d; want 0, 0, 0",
			info.NumAckPending, info.NumRedelivered, info.NumPending)
	}

	// A new runner on the same durable gets the next event, never the drained one.
	next := newEvents(1)[0]
	h2 := &sideEffectHandler{}
	start(t, e.newRunner(t, cfg, h2.handle))
	e.publish(t, next, nil)
	eventually(t, "the next event", func() bool { return h2.callsFor(next.id) == 1 })
	if n := h2.callsFor(slow.id); n != 0 {
		t.Errorf("drained event handled again %d times", n)
	}
	if n := e.count(t, `SELECT count(*) FROM side_effects WHERE event_id = $1`, slow.id); n != 1 {
		t.Errorf("side effects of drained event = %d, want 1", n)
	}
}

func TestRunnerReleasesUnstartedMessagesOnCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "release"
	evs := newEvents(3)
	for _, ev := range evs {
		e.publish(t, ev, nil)
	}

	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	h := &sideEffectHandler{fail: func(Message) error {
		once.Do(func() {
			close(started)
			select {
			case <-release:
			case <-time.After(waitTimeout):
			}
		})
		return nil
	}}
	// One pull fetches all three; the first blocks until shutdown began. The
	// long AckWait means only an explicit release lets the second runner in
	// before waitTimeout.
	cfg := Config{Durable: durable, AckWait: 5 * time.Minute, FetchBatch: 3, Backoff: []time.Duration{50 * time.Millisecond}}
	stop := start(t, e.newRunner(t, cfg, h.handle))
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("handler never started")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run() error = %v", err)
	}

	// What the first runner did not start, a second one picks up at once.
	h2 := &sideEffectHandler{}
	start(t, e.newRunner(t, cfg, h2.handle))
	eventually(t, "all events processed", func() bool {
		return e.count(t, `SELECT count(*) FROM side_effects`) == len(evs)
	})
	if n := e.count(t, `SELECT count(DISTINCT event_id) FROM side_effects`); n != len(evs) {
		t.Errorf("distinct events with side effects = %d, want %d", n, len(evs))
	}
	for _, ev := range evs {
		if got := h.callsFor(ev.id) + h2.callsFor(ev.id); got != 1 {
			t.Errorf("event %s handled %d times, want 1", ev.id, got)
		}
	}
}

func TestRunnerContinuesProducerTrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "trace"
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() {
		if err := tp.Shutdown(context.WithoutCancel(t.Context())); err != nil {
			t.Errorf("shut down tracer provider: %v", err)
		}
	})

	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	hdr := nats.Header{}
	propagation.TraceContext{}.Inject(trace.ContextWithRemoteSpanContext(t.Context(), parent), broker.HeaderCarrier(hdr))
	if hdr.Get("traceparent") == "" {
		t.Fatal("no traceparent injected")
	}
	ev := newEvents(1)[0]
	e.publish(t, ev, hdr)

	seen := make(chan trace.SpanContext, 1)
	handle := func(ctx context.Context, m Message) error {
		if m.ID == ev.id {
			select {
			case seen <- trace.SpanContextFromContext(ctx):
			default:
			}
		}
		return nil
	}
	start(t, e.newRunner(t, Config{Durable: durable}, handle, WithTracerProvider(tp)))

	var inHandler trace.SpanContext
	select {
	case inHandler = <-seen:
	case <-time.After(waitTimeout):
		t.Fatal("handler never called")
	}
	eventually(t, "the consumer span to end", func() bool { return len(rec.Ended()) == 1 })
	span := rec.Ended()[0]

	type spanView struct {
		Name     string
		Kind     trace.SpanKind
		TraceID  trace.TraceID
		SpanID   trace.SpanID
		ParentID trace.SpanID
		MsgID    string
	}
	var msgID string
	for _, a := range span.Attributes() {
		if a.Key == attribute.Key("messaging.message.id") {
			msgID = a.Value.AsString()
		}
	}
	want := spanView{
		Name:     "process " + testSubject,
		Kind:     trace.SpanKindConsumer,
		TraceID:  parent.TraceID(),
		SpanID:   inHandler.SpanID(),
		ParentID: parent.SpanID(),
		MsgID:    ev.id,
	}
	got := spanView{
		Name:     span.Name(),
		Kind:     span.SpanKind(),
		TraceID:  span.SpanContext().TraceID(),
		SpanID:   span.SpanContext().SpanID(),
		ParentID: span.Parent().SpanID(),
		MsgID:    msgID,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("consumer span mismatch (-want +got):\n%s", diff)
	}
	if inHandler.TraceID() != parent.TraceID() {
		t.Errorf("handler trace id = %s, want %s", inHandler.TraceID(), parent.TraceID())
	}
	if !span.Parent().IsRemote() {
		t.Error("consumer span parent is not the remote producer span")
	}
}

func TestPruneInboxDeletesOnlyThisConsumersOldRows(t *testing.T) {
	e := newEnv(t)
	r := e.newRunner(t, Config{Durable: "pruner", InboxRetention: time.Hour}, func(context.Context, Message) error { return nil })
	// 2,500 old rows (more than two batches), 10 recent ones, and old rows of
	// another consumer that must stay.
	if _, err := e.pool.Exec(t.Context(), `
		INSERT INTO consumer_inbox (consumer, event_id, subject, processed_at)
		SELECT 'pruner', 'old-' || g, 's', now() - interval '2 hours' FROM generate_series(1, 2500) g
		UNION ALL
		SELECT 'pruner', 'new-' || g, 's', now() FROM generate_series(1, 10) g
		UNION ALL
		SELECT 'other', 'old-' || g, 's', now() - interval '2 hours' FROM generate_series(1, 5) g`); err != nil {
		t.Fatal(err)
	}
	n, err := r.PruneInbox(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2500 {
		t.Errorf("pruned %d rows, want 2500", n)
	}
	got := map[string]int{
		"pruner old": e.count(t, `SELECT count(*) FROM consumer_inbox WHERE consumer = 'pruner' AND event_id LIKE 'old-%'`),
		"pruner new": e.count(t, `SELECT count(*) FROM consumer_inbox WHERE consumer = 'pruner' AND event_id LIKE 'new-%'`),
		"other old":  e.count(t, `SELECT count(*) FROM consumer_inbox WHERE consumer = 'other'`),
	}
	want := map[string]int{"pruner old": 0, "pruner new": 10, "other old": 5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inbox after pruning (-want +got):\n%s", diff)
	}
}

func TestLagGaugesShowTheOldestUnhandledMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "laggy"
	evs := newEvents(5)
	for _, ev := range evs {
		e.publish(t, ev, nil)
	}
	release := make(chan struct{})
	h := &sideEffectHandler{}
	start(t, e.newRunner(t, Config{Durable: durable, AckWait: 30 * time.Second}, func(ctx context.Context, msg Message) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return h.handle(ctx, msg)
	}))
	// The messages wait; their age grows past a second.
	eventually(t, "oldest pending age above 1s", func() bool {
		v, ok := e.metric(t, "storefront_consumer_oldest_pending_age_seconds", map[string]string{"consumer": durable})
		return ok && v >= 1
	})
	close(release)
	eventually(t, "every event handled", func() bool { return e.count(t, `SELECT count(*) FROM side_effects`) == len(evs) })
	eventually(t, "oldest pending age back to 0", func() bool {
		v, ok := e.metric(t, "storefront_consumer_oldest_pending_age_seconds", map[string]string{"consumer": durable})
		return ok && v == 0
	})
}
