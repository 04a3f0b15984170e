package consumer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
)

// A durable consumer the server lost (a stream restored from backup, an
// operator's mistake) is created again where its inbox's memory begins: the
// events whose inbox rows were pruned are not handled a second time, those
// the inbox still holds are recognised, and new ones are handled.
func TestRecreatedConsumerSkipsPrunedHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const durable = "recreated"
	evs := newEvents(8)
	old, kept, next := evs[:5], evs[5:7], evs[7]
	h := &sideEffectHandler{}
	// The shortest retention the redelivery horizon allows (2.05s), so that
	// the first events outlive it.
	const retention = 3 * time.Second
	cfg := Config{Durable: durable, AckWait: time.Second, MaxDeliver: 1, Backoff: []time.Duration{50 * time.Millisecond}, InboxRetention: retention}
	r := e.newRunner(t, cfg, h.handle)
	start(t, r)
	for _, ev := range old {
		e.publish(t, ev, nil)
	}
	eventually(t, "the first events handled", func() bool { return e.count(t, `SELECT count(*) FROM side_effects`) == len(old) })
	time.Sleep(retention)
	for _, ev := range kept {
		e.publish(t, ev, nil)
	}
	eventually(t, "the later events handled", func() bool { return e.count(t, `SELECT count(*) FROM side_effects`) == len(old)+len(kept) })

	n, err := r.PruneInbox(ctx)
	if err != nil || n != int64(len(old)) {
		t.Fatalf("PruneInbox() = %d, %v; want %d, nil", n, err, len(old))
	}

	if err := e.js.DeleteConsumer(ctx, testStream, durable); err != nil {
		t.Fatalf("delete consumer: %v", err)
	}
	// The runner notices on its next pull and creates the consumer again.
	var cc jetstream.ConsumerConfig
	eventually(t, "the consumer created again", func() bool {
		c, err := e.js.Consumer(ctx, testStream, durable)
		if err != nil {
			return false
		}
		cc = c.CachedInfo().Config
		return true
	})
	if cc.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || cc.OptStartSeq != 6 {
		t.Errorf("recreated consumer delivers from %v seq %d, want by start sequence 6 (after the 5 pruned events)", cc.DeliverPolicy, cc.OptStartSeq)
	}
	eventually(t, "the events the inbox holds recognised", func() bool {
		return e.outcome(t, durable, outcomeDuplicate) == len(kept)
	})
	e.publish(t, next, nil)
	eventually(t, "the next event handled", func() bool { return h.callsFor(next.id) == 1 })
	eventually(t, "nothing left to ack", func() bool {
		info := e.consumerInfo(t, durable)
		return info.NumPending == 0 && info.NumAckPending == 0
	})

	for _, ev := range evs {
		if n := h.callsFor(ev.id); n != 1 {
			t.Errorf("event %s handled %d times, want 1", ev.id, n)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM side_effects`); n != len(evs) {
		t.Errorf("side effects = %d, want %d", n, len(evs))
	}
}

// A consumer that an older runner created (one delivery more than
// MaxDeliver, a single filter) is updated in place: unlimited deliveries and
// the redrive filter, and it keeps where it started, which JetStream does
// not let an update change.
func TestRunnerUpdatesConsumerOfOlderRunner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const durable = "upgraded"
	older := jetstream.ConsumerConfig{
		Durable:       durable,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   3,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       11 * time.Second,
		MaxDeliver:    6,
		BackOff:       []time.Duration{11 * time.Second},
		FilterSubject: testSubject,
	}
	if _, err := e.js.CreateConsumer(ctx, testStream, older); err != nil {
		t.Fatalf("create the older runner's consumer: %v", err)
	}
	h := &sideEffectHandler{}
	start(t, e.newRunner(t, Config{Durable: durable, FilterSubjects: []string{testSubject}, AckWait: 10 * time.Second,
		Backoff: []time.Duration{time.Second}}, h.handle))
	ev := newEvents(1)[0]
	e.publish(t, ev, nil) // seq 1: before the consumer's start
	second := newEvents(3)
	for _, ev := range second {
		e.publish(t, ev, nil)
	}
	eventually(t, "the events from seq 3 handled", func() bool { return h.callsFor(second[2].id) == 1 })

	got := e.consumerInfo(t, durable).Config
	type view struct {
		DeliverPolicy jetstream.DeliverPolicy
		OptStartSeq   uint64
		MaxDeliver    int
		Filters       []string
	}
	want := view{jetstream.DeliverByStartSequencePolicy, 3, -1, []string{testSubject, RedriveSubject(testSubject, durable)}}
	if diff := cmp.Diff(want, view{got.DeliverPolicy, got.OptStartSeq, got.MaxDeliver, got.FilterSubjects}); diff != "" {
		t.Errorf("updated consumer (-want +got):\n%s", diff)
	}
	if n := h.callsFor(ev.id) + h.callsFor(second[0].id); n != 0 {
		t.Errorf("events before seq 3 handled %d times, want 0", n)
	}
}
