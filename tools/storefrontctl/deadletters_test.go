package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/consumer"
	"github.com/storefront-go/storefront/libs/testenv"
)

const (
	eventA = "0195f0a2-7c1e-7b3a-9d2e-00000000000a"
	eventB = "0195f0a2-7c1e-7b3a-9d2e-00000000000b"
	eventC = "0195f0a2-7c1e-7b3a-9d2e-00000000000c"

	placed    = "t.order.placed"
	cancelled = "t.order.cancelled"
	orphan    = "gone.order.placed" // no stream stores it

	// The redrive subjects of consumers alpha and beta.
	alphaPlaced   = "t._redrive.alpha.order.placed"
	betaCancelled = "t._redrive.beta.order.cancelled"

	eventType   = "orders.v1.OrderPlaced"
	traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

	// waitTimeout only stops a broken test from hanging; nothing is timed.
	waitTimeout = 60 * time.Second
)

// natsEnv is an embedded NATS server with an ORDERS-like stream T on t.>.
type natsEnv struct {
	url string
	js  jetstream.JetStream
}

func newNATSEnv(t *testing.T) *natsEnv {
	t.Helper()
	srv := testenv.EmbeddedNATS(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatalf("connect nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := broker.EnsureStream(t.Context(), js, broker.StreamSpec{
		Name: "T", Subjects: []string{"t.>"}, DuplicateWindow: 2 * time.Hour,
	}); err != nil {
		t.Fatalf("ensure stream T: %v", err)
	}
	return &natsEnv{url: srv.URL(), js: js}
}

// ensureDLQ creates DEADLETTER the way consumers do.
func (e *natsEnv) ensureDLQ(t *testing.T) jetstream.Stream {
	t.Helper()
	s, err := broker.EnsureDeadLetterStream(t.Context(), e.js, broker.StreamSpec{DuplicateWindow: time.Hour})
	if err != nil {
		t.Fatalf("ensure dead-letter stream: %v", err)
	}
	return s
}

// addConsumer creates on T the durable consumer of subject that a runner of
// libs/consumer creates: it filters on the subject and on its redrive
// subject.
func (e *natsEnv) addConsumer(t *testing.T, durable, subject string) {
	t.Helper()
	if _, err := e.js.CreateConsumer(t.Context(), "T", jetstream.ConsumerConfig{
		Durable:        durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		FilterSubjects: []string{subject, consumer.RedriveSubject(subject, durable)},
	}); err != nil {
		t.Fatalf("create consumer %s: %v", durable, err)
	}
}

// originalHeaders are the headers the outbox relay publishes an event with.
func originalHeaders(eventID string) nats.Header {
	return nats.Header{
		broker.HeaderMsgID:       {eventID},
		broker.HeaderType:        {eventType},
		broker.HeaderTraceParent: {traceParent},
	}
}

func payload(eventID string) []byte {
	return []byte("payload of " + eventID)
}

// publishEvent stores an event on stream T as the outbox relay does.
func (e *natsEnv) publishEvent(t *testing.T, subject, eventID string) {
	t.Helper()
	m := &nats.Msg{Subject: subject, Header: originalHeaders(eventID), Data: payload(eventID)}
	if _, err := e.js.PublishMsg(t.Context(), m); err != nil {
		t.Fatalf("publish %s: %v", eventID, err)
	}
}

// handMade is a dead letter to store by hand, with the headers
// libs/consumer gives one.
type handMade struct {
	durable, subject, eventID, reason string
	deliveries                        int
}

// addDeadLetter stores dl on DEADLETTER and returns its sequence.
func (e *natsEnv) addDeadLetter(t *testing.T, dl handMade) uint64 {
	t.Helper()
	h := originalHeaders(dl.eventID)
	h.Set(broker.HeaderMsgID, dl.durable+":"+dl.eventID)
	h.Set(consumer.HeaderEventID, dl.eventID)
	h.Set(broker.HeaderOriginalSubject, dl.subject)
	h.Set(broker.HeaderConsumer, dl.durable)
	h.Set(broker.HeaderDeliveryCount, strconv.Itoa(dl.deliveries))
	h.Set(broker.HeaderDeadLetterReason, dl.reason)
	m := &nats.Msg{Subject: broker.DeadLetterSubject(dl.durable), Header: h, Data: payload(dl.eventID)}
	ack, err := e.js.PublishMsg(t.Context(), m)
	if err != nil {
		t.Fatalf("publish dead letter of %s: %v", dl.eventID, err)
	}
	return ack.Sequence
}

// dlqSeqs lists the sequences left on DEADLETTER.
func (e *natsEnv) dlqSeqs(t *testing.T) []uint64 {
	t.Helper()
	s, err := e.js.Stream(t.Context(), broker.DeadLetterStream)
	if err != nil {
		t.Fatalf("look up %s: %v", broker.DeadLetterStream, err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatalf("%s info: %v", broker.DeadLetterStream, err)
	}
	var seqs []uint64
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		_, err := s.GetMsg(t.Context(), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("get %s seq %d: %v", broker.DeadLetterStream, seq, err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// storedTime returns when DEADLETTER stored seq, as list prints it.
func storedTime(t *testing.T, s jetstream.Stream, seq uint64) time.Time {
	t.Helper()
	m, err := s.GetMsg(t.Context(), seq)
	if err != nil {
		t.Fatalf("get dead letter %d: %v", seq, err)
	}
	return m.Time.UTC()
}

// onT returns the messages stream T holds on subject, oldest first.
func (e *natsEnv) onT(t *testing.T, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := e.js.Stream(t.Context(), "T")
	if err != nil {
		t.Fatalf("look up T: %v", err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); seq < 1000; {
		m, err := s.GetMsg(t.Context(), seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("read T: %v", err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
	return out
}

func TestDeadLettersList(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	dlq := e.ensureDLQ(t)
	seqA := e.addDeadLetter(t, handMade{durable: "alpha", subject: placed, eventID: eventA, deliveries: 5, reason: "handle event " + eventA + ": boom"})
	seqB := e.addDeadLetter(t, handMade{durable: "beta", subject: cancelled, eventID: eventB, deliveries: 1, reason: "permanent: undecodable"})
	timeA := storedTime(t, dlq, seqA).Format(time.RFC3339)
	timeB := storedTime(t, dlq, seqB).Format(time.RFC3339)

	const (
		wide   = "%-5s%-22s%-10s%-19s%-38s%-12s%s\n" // both rows: t.order.cancelled is the widest subject
		narrow = "%-5s%-22s%-10s%-16s%-38s%-12s%s\n" // alpha alone: t.order.placed
	)
	header := []any{"SEQ", "TIME", "CONSUMER", "SUBJECT", "EVENT ID", "DELIVERIES", "REASON"}
	rowA := []any{"1", timeA, "alpha", placed, eventA, "5", "handle event " + eventA + ": boom"}
	rowB := []any{"2", timeB, "beta", cancelled, eventB, "1", "permanent: undecodable"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{
			name: "all, oldest first",
			args: []string{"--nats", e.url, "deadletters", "list"},
			want: fmt.Sprintf(wide, header...) + fmt.Sprintf(wide, rowA...) + fmt.Sprintf(wide, rowB...),
		},
		{
			name: "server from the environment",
			env:  map[string]string{"STOREFRONT_NATS_URL": e.url},
			args: []string{"deadletters", "list"},
			want: fmt.Sprintf(wide, header...) + fmt.Sprintf(wide, rowA...) + fmt.Sprintf(wide, rowB...),
		},
		{
			name: "one consumer",
			args: []string{"deadletters", "list", "--consumer", "alpha", "--nats", e.url},
			want: fmt.Sprintf(narrow, header...) + fmt.Sprintf(narrow, rowA...),
		},
		{
			name: "limit",
			args: []string{"--nats", e.url, "deadletters", "list", "--limit", "1"},
			want: fmt.Sprintf(narrow, header...) + fmt.Sprintf(narrow, rowA...),
		},
		{
			name: "consumer without dead letters",
			args: []string{"--nats", e.url, "deadletters", "list", "--consumer", "gamma"},
			want: "no dead letters for consumer gamma\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, tt.env, tt.args...)
			if got.code != exitOK || got.stderr != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and no stderr", got.code, got.stderr)
			}
			if diff := cmp.Diff(tt.want, got.stdout); diff != "" {
				t.Errorf("stdout mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeadLettersListJSON(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	dlq := e.ensureDLQ(t)
	seqA := e.addDeadLetter(t, handMade{durable: "alpha", subject: placed, eventID: eventA, deliveries: 5, reason: "boom"})
	seqB := e.addDeadLetter(t, handMade{durable: "beta", subject: cancelled, eventID: eventB, deliveries: 1, reason: "permanent: bad"})
	want := []map[string]any{
		{
			"seq": float64(seqA), "time": storedTime(t, dlq, seqA).Format(time.RFC3339Nano),
			"consumer": "alpha", "original_subject": placed, "event_id": eventA,
			"type": eventType, "deliveries": float64(5), "reason": "boom",
		},
		{
			"seq": float64(seqB), "time": storedTime(t, dlq, seqB).Format(time.RFC3339Nano),
			"consumer": "beta", "original_subject": cancelled, "event_id": eventB,
			"type": eventType, "deliveries": float64(1), "reason": "permanent: bad",
		},
	}
	tests := []struct {
		name string
		args []string
		want []map[string]any
	}{
		{name: "all", args: []string{"--nats", e.url, "--json", "deadletters", "list"}, want: want},
		{name: "one consumer", args: []string{"--nats", e.url, "deadletters", "list", "--json", "--consumer", "beta"}, want: want[1:]},
		{name: "none", args: []string{"--nats", e.url, "deadletters", "list", "--json", "--consumer", "gamma"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, nil, tt.args...)
			if got.code != exitOK || got.stderr != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and no stderr", got.code, got.stderr)
			}
			if diff := cmp.Diff(tt.want, jsonLines(t, got.stdout)); diff != "" {
				t.Errorf("JSON lines mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// jsonLines decodes one JSON object per line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for line := range strings.Lines(out) {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func TestDeadLettersListEmpty(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	check := func(t *testing.T, args []string, want string) {
		t.Helper()
		got := runCLI(t, nil, append([]string{"--nats", e.url}, args...)...)
		if got.code != exitOK || got.stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q; want 0 and no stderr", args, got.code, got.stderr)
		}
		if got.stdout != want {
			t.Errorf("%v: stdout %q, want %q", args, got.stdout, want)
		}
	}
	// No DEADLETTER stream yet: nothing was ever dead-lettered.
	check(t, []string{"deadletters", "list"}, "no dead letters\n")
	check(t, []string{"deadletters", "list", "--json"}, "")
	check(t, []string{"deadletters", "redrive", "--all"}, "no dead letters\n")
	got := runCLI(t, nil, "--nats", e.url, "deadletters", "redrive", "1")
	if want := "error: no stream DEADLETTER: nothing was dead-lettered yet\n"; got.code != exitError || got.stderr != want {
		t.Errorf("redrive 1 without a stream: exit %d, stderr %q; want 1 and %q", got.code, got.stderr, want)
	}

	e.ensureDLQ(t)
	check(t, []string{"deadletters", "list"}, "no dead letters\n")
	check(t, []string{"deadletters", "list", "--consumer", "alpha"}, "no dead letters for consumer alpha\n")
	check(t, []string{"deadletters", "redrive", "--all", "--consumer", "alpha"}, "no dead letters for consumer alpha\n")
}

// view is what a test checks on a re-driven message.
type view struct {
	Subject string
	Header  nats.Header
	Data    string
}

func viewOf(m *jetstream.RawStreamMsg) view {
	return view{Subject: m.Subject, Header: m.Header, Data: string(m.Data)}
}

func TestDeadLettersRedrive(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	e.ensureDLQ(t)
	// The originals are on T, inside its two-hour duplicate window.
	e.publishEvent(t, placed, eventA)
	e.publishEvent(t, cancelled, eventB)
	e.addConsumer(t, "alpha", placed)
	seqA := e.addDeadLetter(t, handMade{durable: "alpha", subject: placed, eventID: eventA, deliveries: 5, reason: "boom"})
	seqB := e.addDeadLetter(t, handMade{durable: "beta", subject: cancelled, eventID: eventB, deliveries: 1, reason: "bad"})

	got := runCLI(t, nil, "--nats", e.url, "deadletters", "redrive", strconv.FormatUint(seqA, 10))
	if got.code != exitOK || got.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and no stderr", got.code, got.stderr)
	}
	want := fmt.Sprintf("re-drove dead letter %d (consumer alpha, event %s) to %s: stream T seq 3\n", seqA, eventA, alphaPlaced)
	if diff := cmp.Diff(want, got.stdout); diff != "" {
		t.Errorf("stdout mismatch (-want +got):\n%s", diff)
	}

	// Only alpha's redrive subject gets the copy; the original subject,
	// which every consumer of placed orders reads, does not.
	if n := len(e.onT(t, placed)); n != 1 {
		t.Errorf("T holds %d messages on %s, want only the original", n, placed)
	}
	msgs := e.onT(t, alphaPlaced)
	if len(msgs) != 1 {
		t.Fatalf("T holds %d messages on %s, want the re-driven copy", len(msgs), alphaPlaced)
	}
	wantCopy := view{
		Subject: alphaPlaced,
		Header: nats.Header{
			broker.HeaderMsgID:             {eventA + ":redrive:" + strconv.FormatUint(seqA, 10)},
			consumer.HeaderEventID:         {eventA},
			broker.HeaderType:              {eventType},
			broker.HeaderTraceParent:       {traceParent},
			jetstream.ExpectedStreamHeader: {"T"},
		},
		Data: string(payload(eventA)),
	}
	if diff := cmp.Diff(wantCopy, viewOf(msgs[0])); diff != "" {
		t.Errorf("re-driven message mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{seqB}, e.dlqSeqs(t)); diff != "" {
		t.Errorf("dead letters left (-want +got):\n%s", diff)
	}

	// It is gone now; a second redrive says so and changes nothing.
	got = runCLI(t, nil, "--nats", e.url, "deadletters", "redrive", strconv.FormatUint(seqA, 10))
	if want := fmt.Sprintf("error: dead letter %d not found in DEADLETTER\n", seqA); got.code != exitError || got.stderr != want {
		t.Errorf("second redrive: exit %d, stderr %q; want 1 and %q", got.code, got.stderr, want)
	}
	if n := len(e.onT(t, alphaPlaced)); n != 1 {
		t.Errorf("T holds %d messages on %s after a second redrive, want 1", n, alphaPlaced)
	}
}

func TestDeadLettersRedriveWithoutStreamKeepsIt(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	e.ensureDLQ(t)
	seq := e.addDeadLetter(t, handMade{durable: "alpha", subject: orphan, eventID: eventC, deliveries: 5, reason: "boom"})

	got := runCLI(t, nil, "--nats", e.url, "deadletters", "redrive", strconv.FormatUint(seq, 10))
	want := fmt.Sprintf("error: dead letter %d: no stream stores its original subject %s; it stays dead-lettered\n", seq, orphan)
	if got.code != exitError || got.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", got.code, got.stdout)
	}
	if diff := cmp.Diff(want, got.stderr); diff != "" {
		t.Errorf("stderr mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{seq}, e.dlqSeqs(t)); diff != "" {
		t.Errorf("dead letters left (-want +got):\n%s", diff)
	}
}

// redrive keeps a dead letter whose copy would reach no consumer: the
// consumer is gone, it is a runner from before redrive subjects, or the
// stream does not store the redrive subject.
func TestDeadLettersRedriveNeedsItsConsumer(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	e.ensureDLQ(t)
	// An older runner filters on the event's subject alone.
	if _, err := e.js.CreateConsumer(t.Context(), "T", jetstream.ConsumerConfig{
		Durable: "older", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: placed,
	}); err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	// A stream that lists its subjects one by one stores no redrive subject.
	if _, err := broker.EnsureStream(t.Context(), e.js, broker.StreamSpec{Name: "X", Subjects: []string{"x.order.placed"}}); err != nil {
		t.Fatalf("ensure stream X: %v", err)
	}
	seqGone := e.addDeadLetter(t, handMade{durable: "gone", subject: placed, eventID: eventA, deliveries: 5, reason: "boom"})
	seqOlder := e.addDeadLetter(t, handMade{durable: "older", subject: placed, eventID: eventB, deliveries: 5, reason: "boom"})
	seqX := e.addDeadLetter(t, handMade{durable: "gamma", subject: "x.order.placed", eventID: eventC, deliveries: 5, reason: "boom"})

	got := runCLI(t, nil, "--nats", e.url, "deadletters", "redrive", "--all")
	wantErr := fmt.Sprintf("error: dead letter %d: stream T has no consumer gone; it stays dead-lettered\n", seqGone) +
		fmt.Sprintf("error: dead letter %d: consumer older does not receive t._redrive.older.order.placed (is it older than redrive subjects?); it stays dead-lettered\n", seqOlder) +
		fmt.Sprintf("error: dead letter %d: stream X does not store x._redrive.gamma.order.placed, the subject that re-drives it to consumer gamma; it stays dead-lettered\n", seqX)
	if got.code != exitError || got.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", got.code, got.stdout)
	}
	if diff := cmp.Diff(wantErr, got.stderr); diff != "" {
		t.Errorf("stderr mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{seqGone, seqOlder, seqX}, e.dlqSeqs(t)); diff != "" {
		t.Errorf("dead letters left (-want +got):\n%s", diff)
	}
}

func TestDeadLettersRedriveAll(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	e.ensureDLQ(t)
	e.addConsumer(t, "alpha", placed)
	e.addConsumer(t, "beta", cancelled)
	seqA := e.addDeadLetter(t, handMade{durable: "alpha", subject: placed, eventID: eventA, deliveries: 5, reason: "boom"})
	seqB := e.addDeadLetter(t, handMade{durable: "beta", subject: cancelled, eventID: eventB, deliveries: 1, reason: "bad"})
	seqC := e.addDeadLetter(t, handMade{durable: "alpha", subject: orphan, eventID: eventC, deliveries: 5, reason: "boom"})
	orphanErr := fmt.Sprintf("error: dead letter %d: no stream stores its original subject %s; it stays dead-lettered\n", seqC, orphan)

	// One consumer's: A goes, C cannot and stays, B is not alpha's.
	got := runCLI(t, nil, "--nats", e.url, "--json", "deadletters", "redrive", "--all", "--consumer", "alpha")
	if got.code != exitError {
		t.Errorf("exit %d, want 1", got.code)
	}
	if diff := cmp.Diff(orphanErr, got.stderr); diff != "" {
		t.Errorf("stderr mismatch (-want +got):\n%s", diff)
	}
	wantJSON := []map[string]any{{
		"seq": float64(seqA), "consumer": "alpha", "event_id": eventA, "subject": alphaPlaced,
		"original_subject": placed, "stream": "T", "stream_seq": float64(1),
	}}
	if diff := cmp.Diff(wantJSON, jsonLines(t, got.stdout)); diff != "" {
		t.Errorf("JSON lines mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{seqB, seqC}, e.dlqSeqs(t)); diff != "" {
		t.Errorf("dead letters left (-want +got):\n%s", diff)
	}

	// Everything: B goes, C still cannot.
	got = runCLI(t, nil, "--nats", e.url, "deadletters", "redrive", "--all")
	if got.code != exitError {
		t.Errorf("exit %d, want 1", got.code)
	}
	if diff := cmp.Diff(orphanErr, got.stderr); diff != "" {
		t.Errorf("stderr mismatch (-want +got):\n%s", diff)
	}
	want := fmt.Sprintf("re-drove dead letter %d (consumer beta, event %s) to %s: stream T seq 2\n", seqB, eventB, betaCancelled)
	if diff := cmp.Diff(want, got.stdout); diff != "" {
		t.Errorf("stdout mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{seqC}, e.dlqSeqs(t)); diff != "" {
		t.Errorf("dead letters left (-want +got):\n%s", diff)
	}
}

func TestDeadLettersRedriveSeveralGoesOnPastFailures(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	e.ensureDLQ(t)
	e.addConsumer(t, "alpha", placed)
	seqA := e.addDeadLetter(t, handMade{durable: "alpha", subject: placed, eventID: eventA, deliveries: 5, reason: "boom"})
	seqB := e.addDeadLetter(t, handMade{durable: "beta", subject: cancelled, eventID: eventB, deliveries: 1, reason: "bad"})

	// 99 does not exist and B is not alpha's; A is re-driven all the same.
	got := runCLI(t, nil, "--nats", e.url, "deadletters", "redrive", "--consumer", "alpha", "99",
		strconv.FormatUint(seqB, 10), strconv.FormatUint(seqA, 10))
	if got.code != exitError {
		t.Errorf("exit %d, want 1", got.code)
	}
	wantErr := "error: dead letter 99 not found in DEADLETTER\n" +
		fmt.Sprintf("error: dead letter %d belongs to beta, not to consumer alpha\n", seqB)
	if diff := cmp.Diff(wantErr, got.stderr); diff != "" {
		t.Errorf("stderr mismatch (-want +got):\n%s", diff)
	}
	want := fmt.Sprintf("re-drove dead letter %d (consumer alpha, event %s) to %s: stream T seq 1\n", seqA, eventA, alphaPlaced)
	if diff := cmp.Diff(want, got.stdout); diff != "" {
		t.Errorf("stdout mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{seqB}, e.dlqSeqs(t)); diff != "" {
		t.Errorf("dead letters left (-want +got):\n%s", diff)
	}
}

func TestDeadLettersRedriveAfterLostDelete(t *testing.T) {
	t.Parallel()
	e := newNATSEnv(t)
	e.ensureDLQ(t)
	e.addConsumer(t, "alpha", placed)
	seq := e.addDeadLetter(t, handMade{durable: "alpha", subject: placed, eventID: eventA, deliveries: 5, reason: "boom"})
	// An earlier redrive published the copy but never deleted the dead letter.
	earlier := &nats.Msg{Subject: alphaPlaced, Header: redriveHeaders(originalHeaders(eventA), eventA, seq), Data: payload(eventA)}
	if _, err := e.js.PublishMsg(t.Context(), earlier); err != nil {
		t.Fatalf("publish earlier copy: %v", err)
	}

	got := runCLI(t, nil, "--nats", e.url, "deadletters", "redrive", strconv.FormatUint(seq, 10))
	if got.code != exitOK || got.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and no stderr", got.code, got.stderr)
	}
	want := fmt.Sprintf("re-drove dead letter %d (consumer alpha, event %s) to %s: stream T seq 1 (already there from an earlier redrive)\n", seq, eventA, alphaPlaced)
	if diff := cmp.Diff(want, got.stdout); diff != "" {
		t.Errorf("stdout mismatch (-want +got):\n%s", diff)
	}
	if n := len(e.onT(t, alphaPlaced)); n != 1 {
		t.Errorf("T holds %d copies, want 1", n)
	}
	if seqs := e.dlqSeqs(t); len(seqs) != 0 {
		t.Errorf("dead letters left: %v, want none", seqs)
	}
}

func TestDeadLettersCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string // a prefix
	}{
		{"no subcommand", []string{"deadletters"}, exitUsage, "error: deadletters: want list or redrive\n"},
		{"unknown subcommand", []string{"deadletters", "purge"}, exitUsage, "error: deadletters: unknown command \"purge\" (want list or redrive)\n"},
		{"list with an argument", []string{"deadletters", "list", "x"}, exitUsage, "error: deadletters list: unexpected argument \"x\"\n"},
		{"negative limit", []string{"deadletters", "list", "--limit", "-1"}, exitUsage, "error: deadletters list: --limit must not be negative\n"},
		{"consumer with a dot", []string{"deadletters", "list", "--consumer", "a.b"}, exitUsage, "error: deadletters list: --consumer \"a.b\" may not contain '.', '*', '>' or whitespace\n"},
		{"redrive nothing", []string{"deadletters", "redrive"}, exitUsage, "error: deadletters redrive: want SEQ... or --all\n"},
		{"redrive both", []string{"deadletters", "redrive", "--all", "3"}, exitUsage, "error: deadletters redrive: give SEQ... or --all, not both\n"},
		{"redrive a bad sequence", []string{"deadletters", "redrive", "0"}, exitUsage, "error: deadletters redrive: \"0\" is not a stream sequence\n"},
		{"redrive a word", []string{"deadletters", "redrive", "seven"}, exitUsage, "error: deadletters redrive: \"seven\" is not a stream sequence\n"},
		{"unknown flag", []string{"deadletters", "list", "--durable", "x"}, exitUsage, "flag provided but not defined: -durable\n"},
		{
			"unreachable server, password hidden",
			[]string{"--nats", "nats://ops:s3cret@127.0.0.1:1", "deadletters", "list"},
			exitError, "error: connect to nats://ops:xxxxx@127.0.0.1:1: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, nil, tt.args...)
			if got.code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", got.code, tt.wantCode, got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("stdout %q, want nothing", got.stdout)
			}
			if !strings.HasPrefix(got.stderr, tt.wantStderr) {
				t.Errorf("stderr %q, want it to start with %q", got.stderr, tt.wantStderr)
			}
			if strings.Contains(got.stderr, "s3cret") {
				t.Errorf("stderr %q shows the password", got.stderr)
			}
		})
	}
}

func TestRedriveHeaders(t *testing.T) {
	t.Parallel()
	dl := nats.Header{
		broker.HeaderMsgID:            {"alpha:" + eventA},
		consumer.HeaderEventID:        {eventA},
		broker.HeaderType:             {eventType},
		broker.HeaderTraceParent:      {traceParent},
		broker.HeaderTraceState:       {"vendor=1"},
		broker.HeaderOriginalSubject:  {placed},
		broker.HeaderConsumer:         {"alpha"},
		broker.HeaderDeliveryCount:    {"5"},
		broker.HeaderDeadLetterReason: {"boom"},
		// Stream metadata that a direct get adds.
		"Nats-Stream":   {"DEADLETTER"},
		"Nats-Sequence": {"7"},
		"Nats-Subject":  {"deadletter.alpha"},
		"X-Custom":      {"a", "b"},
	}
	want := nats.Header{
		broker.HeaderMsgID:       {eventA + ":redrive:7"},
		consumer.HeaderEventID:   {eventA},
		broker.HeaderType:        {eventType},
		broker.HeaderTraceParent: {traceParent},
		broker.HeaderTraceState:  {"vendor=1"},
		"X-Custom":               {"a", "b"},
	}
	if diff := cmp.Diff(want, redriveHeaders(dl, eventA, 7)); diff != "" {
		t.Errorf("redriveHeaders() mismatch (-want +got):\n%s", diff)
	}
	if got := dl.Get(broker.HeaderMsgID); got != "alpha:"+eventA {
		t.Errorf("redriveHeaders() changed the dead letter's Nats-Msg-Id to %q", got)
	}
}

func TestReadDeadLetterFallbacks(t *testing.T) {
	t.Parallel()
	stored := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		msg  *jetstream.RawStreamMsg
		want deadLetter
	}{
		{
			name: "all headers",
			msg: &jetstream.RawStreamMsg{Subject: "deadletter.alpha", Sequence: 4, Time: stored, Header: nats.Header{
				broker.HeaderMsgID: {"alpha:" + eventA}, consumer.HeaderEventID: {eventA},
				broker.HeaderConsumer: {"alpha"}, broker.HeaderOriginalSubject: {placed},
				broker.HeaderDeliveryCount: {"5"}, broker.HeaderDeadLetterReason: {"boom"}, broker.HeaderType: {eventType},
			}},
			want: deadLetter{
				Seq: 4, Time: stored.UTC(), Consumer: "alpha", OriginalSubject: placed,
				EventID: eventA, Type: eventType, Deliveries: 5, Reason: "boom",
			},
		},
		{
			name: "no event id or consumer header: from Nats-Msg-Id and the subject",
			msg: &jetstream.RawStreamMsg{Subject: "deadletter.alpha", Sequence: 4, Time: stored, Header: nats.Header{
				broker.HeaderMsgID: {"alpha:" + eventA}, broker.HeaderOriginalSubject: {placed},
				broker.HeaderDeliveryCount: {"many"},
			}},
			want: deadLetter{Seq: 4, Time: stored.UTC(), Consumer: "alpha", OriginalSubject: placed, EventID: eventA},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, readDeadLetter(tt.msg)); diff != "" {
				t.Errorf("readDeadLetter() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRedriveReachesConsumerAgain runs a real consumer.Runner: its handler
// fails permanently until the cause is "fixed". The event is dead-lettered,
// re-driven while still broken (it must be dead-lettered again, not dropped as
// a duplicate), then re-driven once fixed: the handler applies it exactly once
// under its original event id, although the original is still inside T's
// duplicate window. A second consumer of the subject handled the event at
// once and has since pruned it from its inbox, as it would for an old dead
// letter: neither redrive reaches it.
func TestRedriveReachesConsumerAgain(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDB(t) // skips under -short
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := consumer.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate inbox: %v", err)
	}
	e := newNATSEnv(t)

	const (
		durable   = "redrive-e2e"
		bystander = "bystander"
	)
	var fixed atomic.Bool
	var mu sync.Mutex
	var handled, bystanderHandled []string
	handler := func(_ context.Context, msg consumer.Message) error {
		if !fixed.Load() {
			return consumer.Permanent(errors.New("not fixed yet"))
		}
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, msg.ID)
		return nil
	}
	run := func(durable string, handler consumer.Handler) {
		t.Helper()
		r, err := consumer.New(pool, e.js, consumer.Config{Stream: "T", Durable: durable, FilterSubjects: []string{placed}}, handler, nil, nil)
		if err != nil {
			t.Fatalf("consumer.New() error = %v", err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(runCtx) }()
		t.Cleanup(func() {
			stop()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run() error = %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	run(durable, handler)
	run(bystander, func(_ context.Context, msg consumer.Message) error {
		mu.Lock()
		defer mu.Unlock()
		bystanderHandled = append(bystanderHandled, msg.ID)
		return nil
	})
	// settled reports that durable has nothing left to handle and, when
	// delivered is not 0, has been delivered up to that stream sequence.
	settled := func(durable string, delivered uint64) func() bool {
		return func() bool {
			c, err := e.js.Consumer(ctx, "T", durable)
			if err != nil {
				return false
			}
			info, err := c.Info(ctx)
			return err == nil && info.NumPending == 0 && info.NumAckPending == 0 &&
				(delivered == 0 || info.Delivered.Stream == delivered)
		}
	}

	// deadLettered waits for the event's dead letter and returns it.
	deadLettered := func(what string) *jetstream.RawStreamMsg {
		t.Helper()
		var m *jetstream.RawStreamMsg
		eventually(t, what, func() bool {
			s, err := e.js.Stream(ctx, broker.DeadLetterStream)
			if err != nil {
				return false
			}
			m, err = s.GetLastMsgForSubject(ctx, broker.DeadLetterSubject(durable))
			return err == nil
		})
		return m
	}
	redriveAll := func() {
		t.Helper()
		got := runCLI(t, nil, "--nats", e.url, "deadletters", "redrive", "--all", "--consumer", durable)
		if got.code != exitOK || got.stderr != "" {
			t.Fatalf("redrive: exit %d, stderr %q; want 0 and no stderr", got.code, got.stderr)
		}
	}

	e.publishEvent(t, placed, eventA)
	first := deadLettered("the event on DEADLETTER")
	eventually(t, "the bystander to handle the event", settled(bystander, 1))
	if _, err := pool.Exec(ctx, `DELETE FROM consumer_inbox WHERE consumer = $1`, bystander); err != nil {
		t.Fatalf("prune the bystander's inbox: %v", err)
	}

	// Still broken: the re-driven copy fails and is dead-lettered again.
	redriveAll()
	second := deadLettered("the re-driven event on DEADLETTER again")
	wantIDs := [][2]string{
		{durable + ":" + eventA, eventA},
		{durable + ":" + eventA + ":redrive:" + strconv.FormatUint(first.Sequence, 10), eventA},
	}
	gotIDs := [][2]string{
		{first.Header.Get(broker.HeaderMsgID), first.Header.Get(consumer.HeaderEventID)},
		{second.Header.Get(broker.HeaderMsgID), second.Header.Get(consumer.HeaderEventID)},
	}
	if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
		t.Errorf("dead letters' Nats-Msg-Id and event id (-want +got):\n%s", diff)
	}

	fixed.Store(true)
	redriveAll()
	eventually(t, "the consumer to finish the re-driven event", settled(durable, 3))
	// Had the copies reached the bystander, it would have them pending or
	// handled by now.
	eventually(t, "the bystander to have nothing pending", settled(bystander, 0))

	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{eventA}, handled); diff != "" {
		t.Errorf("handled events mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{eventA}, bystanderHandled); diff != "" {
		t.Errorf("events the bystander handled (-want +got):\n%s", diff)
	}
	var inbox int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM consumer_inbox WHERE consumer = $1 AND event_id = $2`, durable, eventA).Scan(&inbox); err != nil {
		t.Fatalf("count inbox rows: %v", err)
	}
	if inbox != 1 {
		t.Errorf("inbox rows for %s = %d, want 1", eventA, inbox)
	}
	if seqs := e.dlqSeqs(t); len(seqs) != 0 {
		t.Errorf("dead letters left: %v, want none", seqs)
	}
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
		case <-time.After(50 * time.Millisecond):
		}
	}
}
