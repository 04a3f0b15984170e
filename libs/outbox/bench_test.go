package outbox_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/broker"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/outbox"
)

// benchEvents is how many events each iteration moves.
const benchEvents = 500

// benchRounds is how many times the relay and the raw publish alternate.
const benchRounds = 3

// BenchmarkRelayAgainstRawPublish is R5 of docs/benchmarks.md: the relay
// draining benchEvents pending outbox rows (claim with SKIP LOCKED, publish
// each and await its PubAck, mark them published, commit; batches of
// OUTBOX_BATCH_SIZE, 100) against a raw JetStream publish of the same
// payloads with the same headers, each PubAck awaited too, on the same
// connection and stream (Postgres and NATS in containers). Enqueueing is
// not timed. The two alternate for benchRounds rounds in one run (A/B/A/B),
// so the machine's drift hits both; read the ratio, not the times.
func BenchmarkRelayAgainstRawPublish(b *testing.B) {
	if testing.Short() {
		b.Skip("integration benchmark; needs Docker")
	}
	pool := newPool(b)
	js := connect(b, natsServer.URL())
	_, prefix := newStream(b, js)
	relay, _ := newRelay(b, pool, js, outbox.RelayConfig{}, outbox.WithStreamSubjects(prefix+".>"))
	ctx := b.Context()
	payloads := make([][]byte, benchEvents)
	for i := range payloads {
		raw, err := proto.Marshal(&ordersv1.OrderPlaced{OrderId: fmt.Sprintf("order-%d", i), CustomerId: "customer-1"})
		if err != nil {
			b.Fatal(err)
		}
		payloads[i] = raw
	}
	sent := 0
	for round := 1; round <= benchRounds; round++ {
		b.Run(fmt.Sprintf("relay/round-%d", round), func(b *testing.B) { benchRelay(ctx, b, relay, pool, prefix) })
		b.Run(fmt.Sprintf("raw-publish/round-%d", round), func(b *testing.B) {
			for b.Loop() {
				sent++
				for i, p := range payloads {
					msg := nats.NewMsg(prefix + ".order.placed")
					msg.Data = p
					// A fresh id per message, as the relay's rows have.
					msg.Header.Set(broker.HeaderMsgID, fmt.Sprintf("raw-%d-%d", sent, i))
					msg.Header.Set(broker.HeaderType, eventType)
					if _, err := js.PublishMsg(ctx, msg); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(benchEvents*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// benchRelay times the relay draining benchEvents rows per iteration.
func benchRelay(ctx context.Context, b *testing.B, relay *outbox.Relay, pool *pgxpool.Pool, prefix string) {
	b.Helper()
	for b.Loop() {
		b.StopTimer()
		enqueue(ctx, b, pool, prefix, benchEvents, 50)
		b.StartTimer()
		for sent := 0; sent < benchEvents; {
			n, err := relay.PublishPending(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				b.Fatalf("relay published %d of %d", sent, benchEvents)
			}
			sent += n
		}
	}
	b.ReportMetric(float64(benchEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}
