package consumer

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/libs/testenv"
)

// ownPostgres starts a Postgres container for one test, which may pause it
// without stalling the tests that share pg.
func ownPostgres(t *testing.T) *testenv.Postgres {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	p, err := testenv.StartPostgres(t.Context())
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), waitTimeout)
		defer cancel()
		if err := p.Terminate(ctx); err != nil {
			t.Errorf("terminate postgres: %v", err)
		}
	})
	return p
}

// TestRunnerRidesOutDatabaseOutage is issue 8's scenario, scaled down: a
// stream of events while Postgres is unreachable ends with every event
// handled once and nothing dead-lettered. The outage is about 90s
// against catalogue's 5 deliveries and 1s/5s/30s backoff; here the outage
// is 10s against 3 deliveries, 100ms backoff and a 1s AckWait. A paused
// server leaves connections hanging, so each attempt fails at its deadline
// (AckWait): a runner that spends deliveries on the outage runs out of them
// in about 3.3s, and the messages waiting behind it in the batch sooner.
func TestRunnerRidesOutDatabaseOutage(t *testing.T) {
	t.Parallel()
	p := ownPostgres(t)
	e := newEnvOn(t, p)
	const (
		durable = "db-outage"
		outage  = 10 * time.Second
	)
	cfg := Config{
		Durable:    durable,
		AckWait:    time.Second,
		MaxDeliver: 3,
		Backoff:    []time.Duration{100 * time.Millisecond},
		FetchBatch: 5,
	}
	h := &sideEffectHandler{}
	start(t, e.newRunner(t, cfg, h.handle, fastProbe))

	evs := newEvents(60)
	before, during, after := evs[:20], evs[20:40], evs[40:]
	for _, ev := range before {
		e.publish(t, ev, nil)
	}
	eventually(t, "the events before the outage", func() bool {
		return e.count(t, `SELECT count(*) FROM side_effects`) == len(before)
	})

	if err := p.Pause(t.Context()); err != nil {
		t.Fatalf("pause postgres: %v", err)
	}
	paused := time.Now()
	unpaused := false
	unpause := func() {
		if unpaused {
			return
		}
		unpaused = true
		if err := p.Unpause(context.WithoutCancel(t.Context())); err != nil {
			t.Fatalf("unpause postgres: %v", err)
		}
	}
	t.Cleanup(unpause)
	// Events keep coming while the database is away.
	for _, ev := range during {
		e.publish(t, ev, nil)
		time.Sleep(outage / time.Duration(len(during)))
	}
	eventually(t, "the runner to pause", func() bool {
		v, _ := e.metric(t, "storefront_consumer_paused", map[string]string{"consumer": durable})
		return v == 1
	})
	unpause()
	t.Logf("postgres paused for %s", time.Since(paused).Round(100*time.Millisecond))
	for _, ev := range after {
		e.publish(t, ev, nil)
	}

	eventually(t, "every event settled", func() bool {
		info := e.consumerInfo(t, durable)
		return info.NumPending == 0 && info.NumAckPending == 0
	})
	dead := e.deadLetterCount(t, durable)
	handled := e.count(t, `SELECT count(DISTINCT event_id) FROM side_effects`)
	effects := e.count(t, `SELECT count(*) FROM side_effects`)
	t.Logf("after the outage: %d events handled, %d side effects, %d dead letters", handled, effects, dead)
	if dead != 0 {
		t.Errorf("dead letters = %d, want 0: an outage is not the events' fault", dead)
	}
	if handled != len(evs) || effects != len(evs) {
		t.Errorf("events with side effects = %d, side effects = %d; want %d each (every event once)", handled, effects, len(evs))
	}
	if got := e.outcome(t, durable, outcomeDeadLettered); got != 0 {
		t.Errorf("dead-lettered count = %d, want 0", got)
	}
	deferred := e.outcome(t, durable, outcomeDeferred)
	t.Logf("deliveries handed back uncounted during the outage: %d", deferred)
	if deferred == 0 {
		t.Error("deferred count = 0, want the deliveries the outage failed")
	}
	if v, _ := e.metric(t, "storefront_consumer_paused", map[string]string{"consumer": durable}); v != 0 {
		t.Errorf("paused gauge = %v after the outage, want 0", v)
	}
	if n := e.count(t, `SELECT count(*) FROM consumer_attempts WHERE consumer = $1`, durable); n != 0 {
		t.Errorf("attempt counts left = %d, want 0: nothing failed on its own account", n)
	}
}

// fastProbe pings a paused runner's database often, with a short timeout.
func fastProbe(o *options) {
	o.dbTimeout = time.Second
	o.probeMinDelay = 200 * time.Millisecond
	o.probeMaxDelay = time.Second
}

// A session the server ends mid-event (an administrator, a failover: SQLSTATE
// 57P01) is not the event's fault: with a single attempt allowed, the event
// is handed back uncounted and handled on its next delivery.
func TestRunnerDoesNotCountAKilledConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const durable = "killed"
	ev := newEvents(1)[0]
	e.publish(t, ev, nil)
	var killed atomic.Bool
	h := &sideEffectHandler{}
	handle := func(ctx context.Context, m Message) error {
		if !killed.CompareAndSwap(false, true) {
			return h.handle(ctx, m)
		}
		tx, ok := postgres.TxFrom(ctx)
		if !ok {
			return errors.New("no unit of work")
		}
		_, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
		if err == nil {
			return errors.New("the session survived pg_terminate_backend")
		}
		return err
	}
	cfg := Config{Durable: durable, AckWait: 10 * time.Second, MaxDeliver: 1, Backoff: []time.Duration{50 * time.Millisecond}}
	start(t, e.newRunner(t, cfg, handle))

	eventually(t, "the event handled", func() bool { return h.callsFor(ev.id) == 1 })
	eventually(t, "nothing left to ack", func() bool {
		info := e.consumerInfo(t, durable)
		return info.NumPending == 0 && info.NumAckPending == 0
	})
	if !killed.Load() {
		t.Fatal("the first attempt never ran")
	}
	if n := e.count(t, `SELECT count(*) FROM side_effects WHERE event_id = $1`, ev.id); n != 1 {
		t.Errorf("side effects = %d, want 1", n)
	}
	for outcome, want := range map[string]int{outcomeDeferred: 1, outcomeProcessed: 1, outcomeRetried: 0, outcomeDeadLettered: 0} {
		if got := e.outcome(t, durable, outcome); got != want {
			t.Errorf("%s count = %d, want %d", outcome, got, want)
		}
	}
	if n := e.deadLetterCount(t, durable); n != 0 {
		t.Errorf("dead letters = %d, want 0", n)
	}
}

// When the dead letter cannot be stored, the message is neither acked nor
// given up: it comes back until the dead letter is stored, without running
// the handler again, and every failed publish is counted.
func TestRunnerRetriesDeadLetterUntilStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const durable = "dlq-down"
	poison := newEvents(1)[0]
	h := &sideEffectHandler{fail: func(m Message) error {
		if m.ID == poison.id {
			return errors.New("poison pill")
		}
		return nil
	}}
	cfg := Config{Durable: durable, AckWait: 10 * time.Second, MaxDeliver: 2, Backoff: []time.Duration{50 * time.Millisecond}}
	start(t, e.newRunner(t, cfg, h.handle))
	// The runner creates DEADLETTER as it starts; without it, storing a
	// dead letter fails.
	eventually(t, "the dead-letter stream", func() bool {
		_, err := e.js.Stream(ctx, broker.DeadLetterStream)
		return err == nil
	})
	if err := e.js.DeleteStream(ctx, broker.DeadLetterStream); err != nil {
		t.Fatalf("delete %s: %v", broker.DeadLetterStream, err)
	}
	e.publish(t, poison, nil)

	failures := func() float64 {
		v, _ := e.metric(t, "storefront_consumer_deadletter_publish_failures_total", map[string]string{"consumer": durable})
		return v
	}
	eventually(t, "three failed dead-letter publishes", func() bool { return failures() >= 3 })
	if n := e.consumerInfo(t, durable).NumAckPending; n != 1 {
		t.Errorf("ack pending = %d while the dead letter cannot be stored, want 1 (the message is kept)", n)
	}

	if _, err := broker.EnsureDeadLetterStream(ctx, e.js, broker.StreamSpec{DuplicateWindow: time.Hour}); err != nil {
		t.Fatalf("recreate %s: %v", broker.DeadLetterStream, err)
	}
	eventually(t, "the dead letter stored", func() bool { return e.deadLetter(t, durable) != nil })
	eventually(t, "nothing left to ack", func() bool {
		info := e.consumerInfo(t, durable)
		return info.NumPending == 0 && info.NumAckPending == 0
	})
	t.Logf("dead-letter publishes failed %v times before one was stored", failures())
	if n := h.callsFor(poison.id); n != cfg.MaxDeliver {
		t.Errorf("handler calls = %d, want %d: once decided, only the publish is retried", n, cfg.MaxDeliver)
	}
	if reason := e.deadLetter(t, durable).Header.Get(broker.HeaderDeadLetterReason); !strings.Contains(reason, "poison pill") {
		t.Errorf("dead-letter reason = %q, want the handler's error", reason)
	}
	if n := e.deadLetterCount(t, durable); n != 1 {
		t.Errorf("dead letters = %d, want 1", n)
	}
	if got := e.outcome(t, durable, outcomeDeadLettered); got != 1 {
		t.Errorf("dead-lettered count = %d, want 1", got)
	}
}
