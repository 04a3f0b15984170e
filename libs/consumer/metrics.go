package consumer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storefront-go/storefront/libs/telemetry"
)

// Outcome label values of storefront_consumer_messages_total.
const (
	outcomeProcessed    = "processed"
	outcomeDuplicate    = "duplicate"
	outcomeRetried      = "retried"
	outcomeDeadLettered = "dead_lettered"
	// outcomeDeferred: handed back because the database failed; the
	// attempt does not count.
	outcomeDeferred = "deferred"
	// outcomeSkipped: an event re-driven to another durable consumer.
	outcomeSkipped = "skipped"
)

// metrics are the collectors of one Runner, curried with its consumer label.
type metrics struct {
	messages           *prometheus.CounterVec
	pending            prometheus.Gauge
	oldestAge          prometheus.Gauge
	deadLetters        prometheus.Counter
	deadLetterFailures prometheus.Counter
	paused             prometheus.Gauge
}

// newMetrics registers the consumer collectors on reg. Several runners in one
// process share the same vectors: an AlreadyRegisteredError hands back the
// collector registered first.
func newMetrics(reg prometheus.Registerer, consumer string) (*metrics, error) {
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storefront_consumer_messages_total",
		Help: "Messages handled by a consumer, by outcome (processed, duplicate, retried, dead_lettered, deferred: handed back uncounted because the database failed, skipped: re-driven to another consumer).",
	}, []string{"consumer", "outcome"})
	pending := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storefront_consumer_pending",
		Help: "Messages on the stream not yet delivered to the consumer (JetStream NumPending).",
	}, []string{"consumer"})
	oldestAge := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storefront_consumer_oldest_pending_age_seconds",
		Help: "Age of the oldest message on the stream that the consumer has not acknowledged yet; 0 when it has caught up.",
	}, []string{"consumer"})
	deadLetters := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storefront_consumer_dead_letters_total",
		Help: "Messages a consumer copied to the dead-letter stream.",
	}, []string{"consumer"})
	deadLetterFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storefront_consumer_deadletter_publish_failures_total",
		Help: "Dead letters a consumer failed to store; the message is retried until one is stored.",
	}, []string{"consumer"})
	paused := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storefront_consumer_paused",
		Help: "1 while a consumer fetches nothing because its database does not answer.",
	}, []string{"consumer"})

	if reg != nil {
		if err := errors.Join(
			register(reg, &messages), register(reg, &pending), register(reg, &oldestAge), register(reg, &deadLetters),
			register(reg, &deadLetterFailures), register(reg, &paused),
		); err != nil {
			return nil, err
		}
	}

	m := &metrics{
		messages:           messages.MustCurryWith(prometheus.Labels{"consumer": consumer}),
		pending:            pending.WithLabelValues(consumer),
		oldestAge:          oldestAge.WithLabelValues(consumer),
		deadLetters:        deadLetters.WithLabelValues(consumer),
		deadLetterFailures: deadLetterFailures.WithLabelValues(consumer),
		paused:             paused.WithLabelValues(consumer),
	}
	// Expose every outcome from the start so rate() sees the first increment.
	for _, o := range []string{outcomeProcessed, outcomeDuplicate, outcomeRetried, outcomeDeadLettered, outcomeDeferred, outcomeSkipped} {
		m.messages.WithLabelValues(o)
	}
	return m, nil
}

// register registers *c on reg, or points it at the equal collector
// registered first.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	got, err := telemetry.RegisterOrExisting(reg, *c)
	if err != nil {
		return fmt.Errorf("register consumer metrics: %w", err)
	}
	*c = got
	return nil
}

func (m *metrics) count(outcome string) {
	m.messages.WithLabelValues(outcome).Inc()
}
