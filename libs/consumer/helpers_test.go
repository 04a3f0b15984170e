package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/storefront-go/storefront/libs/broker"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/libs/testenv"
)

const (
	testStream  = "CATALOGUE"
	testSubject = "catalogue.stock.changed"
	// waitTimeout only stops a broken test from hanging; nothing is timed.
	waitTimeout = 60 * time.Second
	pollEvery   = 50 * time.Millisecond
)

// env is one integration test's own database and NATS server.
type env struct {
	srv  *testenv.EmbeddedServer
	pool *pgxpool.Pool
	js   jetstream.JetStream
	reg  *prometheus.Registry
	log  *slog.Logger
}

// newEnv gives the test a fresh database with the inbox and a side_effects
// table, and an embedded NATS server with the CATALOGUE stream.
func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	return newEnvOn(t, pg)
}

// newEnvOn is newEnv on a database of p.
func newEnvOn(t *testing.T, p *testenv.Postgres) *env {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))

	pool, err := postgres.NewPool(ctx, postgres.Config{URL: p.NewDatabase(t), MaxConns: 10, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate() error = %v", err)
	}
	// No key on event_id: a second side effect for one event must show up as
	// a second row, not as an error that hides it.
	if _, err := pool.Exec(ctx, `CREATE TABLE side_effects (
		id bigserial PRIMARY KEY,
		event_id text NOT NULL,
		product_id text NOT NULL
	)`); err != nil {
		t.Fatalf("create side_effects: %v", err)
	}

	srv := testenv.EmbeddedNATS(t)
	nc, err := broker.Connect(broker.Config{URL: srv.URL(), Name: t.Name()}, logger)
	if err != nil {
		t.Fatalf("connect nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := broker.EnsureStream(ctx, js, broker.StreamSpec{
		Name:            testStream,
		Subjects:        []string{"catalogue.>"},
		Replicas:        1,
		DuplicateWindow: time.Minute,
	}); err != nil {
		t.Fatalf("ensure stream: %v", err)
	}
	return &env{srv: srv, pool: pool, js: js, reg: prometheus.NewRegistry(), log: logger}
}

// newRunner builds a runner whose pending gauge refreshes quickly.
func (e *env) newRunner(t *testing.T, cfg Config, h Handler, opts ...Option) *Runner {
	t.Helper()
	if cfg.Stream == "" {
		cfg.Stream = testStream
	}
	opts = append([]Option{func(o *options) { o.pendingInterval = 100 * time.Millisecond }}, opts...)
	r, err := New(e.pool, e.js, cfg, h, e.log, e.reg, opts...)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return r
}

// start runs r until the returned stop is called (or the test ends) and
// returns what Run returned.
func start(t *testing.T, r *Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitTimeout):
				runErr = errors.New("Run did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run() error = %v", err)
		}
	})
	return stop
}

// event is a StockChanged event with its id.
type event struct {
	id  string
	msg *cataloguev1.StockChanged
}

func newEvents(n int) []event {
	evs := make([]event, n)
	for i := range evs {
		evs[i] = event{
			id:  uuid.Must(uuid.NewV7()).String(),
			msg: &cataloguev1.StockChanged{ProductId: fmt.Sprintf("p-%03d", i), Available: int64(i), Delta: 1, Reason: "adjust"},
		}
	}
	return evs
}

// publish stores ev on the stream the way the outbox relay does.
func (e *env) publish(t *testing.T, ev event, extra nats.Header) {
	t.Helper()
	e.publishOn(t, testSubject, ev, extra)
}

func (e *env) publishOn(t *testing.T, subject string, ev event, extra nats.Header) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Header.Set(broker.HeaderMsgID, ev.id)
	m.Header.Set(broker.HeaderType, string(ev.msg.ProtoReflect().Descriptor().FullName()))
	maps.Copy(m.Header, extra)
	m.Data = mustMarshal(t, ev.msg)
	if _, err := e.js.PublishMsg(t.Context(), m); err != nil {
		t.Fatalf("publish %s: %v", ev.id, err)
	}
}

// sideEffectHandler writes one side_effects row per event in tx and counts
// calls per event id.
type sideEffectHandler struct {
	mu    sync.Mutex
	calls map[string]int
	// fail, when set, decides the handler's error for a message.
	fail func(Message) error
}

func (h *sideEffectHandler) handle(ctx context.Context, msg Message) error {
	h.mu.Lock()
	if h.calls == nil {
		h.calls = make(map[string]int)
	}
	h.calls[msg.ID]++
	h.mu.Unlock()
	if h.fail != nil {
		if err := h.fail(msg); err != nil {
			return err
		}
	}
	ev, err := msg.Decode()
	if err != nil {
		return Permanent(err)
	}
	sc, ok := ev.(*cataloguev1.StockChanged)
	if !ok {
		return Permanent(fmt.Errorf("unexpected event %T", ev))
	}
	tx, ok := postgres.TxFrom(ctx)
	if !ok {
		return errors.New("handler context carries no unit of work")
	}
	if _, err := tx.Exec(ctx, `INSERT INTO side_effects (event_id, product_id) VALUES ($1, $2)`, msg.ID, sc.GetProductId()); err != nil {
		return fmt.Errorf("insert side effect: %w", err)
	}
	return nil
}

func (h *sideEffectHandler) callsFor(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[id]
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// eventually polls cond until it holds, failing the test after waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended waiting for %s", what)
		case <-time.After(pollEvery):
		}
	}
}

// metric returns the value of the named counter or gauge with labels, and
// whether the registry has it at all.
func (e *env) metric(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	return gather(t, e.reg, name, labels)
}

func gather(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func (e *env) outcome(t *testing.T, durable, outcome string) int {
	t.Helper()
	v, _ := e.metric(t, "storefront_consumer_messages_total", map[string]string{"consumer": durable, "outcome": outcome})
	return int(v)
}

// consumerInfo reads the durable's state from the server.
func (e *env) consumerInfo(t *testing.T, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := e.js.Consumer(t.Context(), testStream, durable)
	if err != nil {
		t.Fatalf("look up consumer %s: %v", durable, err)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatalf("consumer %s info: %v", durable, err)
	}
	return info
}

// deadLetterCount returns how many dead letters durable has on DEADLETTER.
func (e *env) deadLetterCount(t *testing.T, durable string) int {
	t.Helper()
	s, err := e.js.Stream(t.Context(), broker.DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("look up stream %s: %v", broker.DeadLetterStream, err)
	}
	subject := broker.DeadLetterSubject(durable)
	info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatalf("stream %s info: %v", broker.DeadLetterStream, err)
	}
	return int(info.State.Subjects[subject])
}

// deadLetter returns the last dead letter of durable, or nil.
func (e *env) deadLetter(t *testing.T, durable string) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := e.js.Stream(t.Context(), broker.DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("look up stream %s: %v", broker.DeadLetterStream, err)
	}
	m, err := s.GetLastMsgForSubject(t.Context(), broker.DeadLetterSubject(durable))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("read dead letter of %s: %v", durable, err)
	}
	return m
}
