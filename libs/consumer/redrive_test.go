package consumer

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storefront-go/storefront/libs/broker"
)

func TestRedriveSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		subject, durable, want string
	}{
		{"orders.order.cancelled", "catalogue-order-cancelled", "orders._redrive.catalogue-order-cancelled.order.cancelled"},
		{"orders", "d", "orders._redrive.d"},
		{"orders.>", "d", "orders._redrive.d.>"},
		{"*.order.placed", "d", "*._redrive.d.order.placed"},
		{">", "d", ">"},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			t.Parallel()
			got := RedriveSubject(tt.subject, tt.durable)
			if got != tt.want {
				t.Fatalf("RedriveSubject(%q, %q) = %q, want %q", tt.subject, tt.durable, got, tt.want)
			}
			if tt.subject == ">" {
				return
			}
			durable, original, ok := parseRedrive(got)
			if !ok || durable != tt.durable || original != tt.subject {
				t.Errorf("parseRedrive(%q) = %q, %q, %t; want %q, %q, true", got, durable, original, ok, tt.durable, tt.subject)
			}
		})
	}
}

func TestParseRedriveRejectsOtherSubjects(t *testing.T) {
	t.Parallel()
	for _, subject := range []string{"orders.order.cancelled", "orders", "orders._redrive", "orders._redrive.", "_redrive.d.x", "orders.x._redrive.d"} {
		if durable, original, ok := parseRedrive(subject); ok {
			t.Errorf("parseRedrive(%q) = %q, %q, true; want not a redrive subject", subject, durable, original)
		}
	}
}

func TestSubjectSubset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"orders.order.placed", "orders.order.placed", true},
		{"orders.order.placed", "orders.order.cancelled", false},
		{"orders.order.placed", "orders.*.placed", true},
		{"orders.order.placed", "orders.>", true},
		{"orders.order.placed", ">", true},
		{"orders", "orders.>", false},
		{"orders._redrive.d.order.placed", "orders.>", true},
		{"orders._redrive.d.>", "orders.>", true},
		{"orders.>", "orders._redrive.d.>", false},
		{"orders.*.placed", "orders.order.placed", false},
		{"orders.*.placed", "orders.*.placed", true},
		{"orders.order", "orders.order.placed", false},
		{"orders.order.placed", "orders.order", false},
		{"orders.order.placed", "*.*", false},
	}
	for _, tt := range tests {
		if got := subjectSubset(tt.a, tt.b); got != tt.want {
			t.Errorf("subjectSubset(%q, %q) = %t, want %t", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestDelivers(t *testing.T) {
	t.Parallel()
	const redrive = "orders._redrive.c.order.cancelled"
	tests := []struct {
		name string
		cc   jetstream.ConsumerConfig
		want bool
	}{
		{"no filter", jetstream.ConsumerConfig{}, true},
		{"the runner's filters", Config{Durable: "c", FilterSubjects: []string{"orders.order.cancelled"}}.consumerConfig(), true},
		{"an older runner's single filter", jetstream.ConsumerConfig{FilterSubject: "orders.order.cancelled"}, false},
		{"another durable's filters", Config{Durable: "other", FilterSubjects: []string{"orders.order.cancelled"}}.consumerConfig(), false},
		{"a wildcard", jetstream.ConsumerConfig{FilterSubjects: []string{"catalogue.>", "orders.>"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Delivers(tt.cc, redrive); got != tt.want {
				t.Errorf("Delivers(%v, %q) = %t, want %t", tt.cc.FilterSubjects, redrive, got, tt.want)
			}
		})
	}
}

// An event re-driven to the consumer that dead-lettered it reaches that
// consumer only. The others handled it long ago: even with their inbox rows
// pruned (an old dead letter), they do not handle it again, whether they
// filter on its subject or take every subject.
func TestRedriveReachesOnlyItsConsumer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	ev := newEvents(1)[0]
	var fixed atomic.Bool
	failing := &sideEffectHandler{fail: func(Message) error {
		if !fixed.Load() {
			return Permanent(errors.New("not fixed yet"))
		}
		return nil
	}}
	bystander, everything := &sideEffectHandler{}, &sideEffectHandler{}
	cfg := func(durable string, filters ...string) Config {
		return Config{Durable: durable, FilterSubjects: filters, AckWait: 10 * time.Second, Backoff: []time.Duration{50 * time.Millisecond}}
	}
	start(t, e.newRunner(t, cfg("failing", testSubject), failing.handle))
	start(t, e.newRunner(t, cfg("bystander", testSubject), bystander.handle))
	start(t, e.newRunner(t, cfg("everything"), everything.handle))
	settled := func(durables ...string) func() bool {
		return func() bool {
			for _, d := range durables {
				// A runner creates its consumer as it starts: one not
				// there yet has not settled.
				c, err := e.js.Consumer(t.Context(), testStream, d)
				if errors.Is(err, jetstream.ErrConsumerNotFound) {
					return false
				}
				if err != nil {
					t.Fatalf("look up consumer %s: %v", d, err)
				}
				info, err := c.Info(t.Context())
				if err != nil {
					t.Fatalf("consumer %s info: %v", d, err)
				}
				if info.NumPending != 0 || info.NumAckPending != 0 {
					return false
				}
			}
			return true
		}
	}

	e.publish(t, ev, nil)
	eventually(t, "the dead letter", func() bool { return e.deadLetter(t, "failing") != nil })
	eventually(t, "every consumer done with the event", settled("failing", "bystander", "everything"))
	if _, err := e.pool.Exec(ctx, `DELETE FROM consumer_inbox WHERE consumer <> 'failing'`); err != nil {
		t.Fatalf("prune the others' inbox: %v", err)
	}

	// Re-drive it the way storefrontctl does.
	fixed.Store(true)
	dl := e.deadLetter(t, "failing")
	m := nats.NewMsg(RedriveSubject(dl.Header.Get(broker.HeaderOriginalSubject), dl.Header.Get(broker.HeaderConsumer)))
	m.Header.Set(HeaderEventID, ev.id)
	m.Header.Set(broker.HeaderMsgID, ev.id+":redrive:"+strconv.FormatUint(dl.Sequence, 10))
	m.Header.Set(broker.HeaderType, dl.Header.Get(broker.HeaderType))
	m.Data = dl.Data
	if _, err := e.js.PublishMsg(ctx, m); err != nil {
		t.Fatalf("re-drive: %v", err)
	}
	eventually(t, "the re-driven event handled", func() bool { return e.outcome(t, "failing", outcomeProcessed) == 1 })
	eventually(t, "every consumer done with the copy", settled("failing", "bystander", "everything"))

	got := map[string]int{
		"failing":    failing.callsFor(ev.id),
		"bystander":  bystander.callsFor(ev.id),
		"everything": everything.callsFor(ev.id),
	}
	want := map[string]int{"failing": 2, "bystander": 1, "everything": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("handler calls per consumer (-want +got):\n%s", diff)
	}
	if n := e.outcome(t, "everything", outcomeSkipped); n != 1 {
		t.Errorf("copies the consumer of every subject skipped = %d, want 1", n)
	}
	var subject string
	if err := e.pool.QueryRow(ctx, `SELECT subject FROM consumer_inbox WHERE consumer = 'failing' AND event_id = $1`, ev.id).Scan(&subject); err != nil {
		t.Fatalf("read the inbox row: %v", err)
	}
	if subject != testSubject {
		t.Errorf("inbox subject = %q, want the original %q", subject, testSubject)
	}
	if n := e.count(t, `SELECT count(*) FROM side_effects`); n != 3 {
		t.Errorf("side effects = %d, want 3: one per consumer", n)
	}
}
