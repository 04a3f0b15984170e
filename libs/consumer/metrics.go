package consumer

import (
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
)

// metrics are the collectors of one Runner, curried with its consumer label.
type metrics struct {
	messages    *prometheus.CounterVec
	pending     prometheus.Gauge
	deadLetters prometheus.Counter
}

// newMetrics registers the consumer collectors on reg. Several runners in one
// process share the same vectors: an AlreadyRegisteredError hands back the
// collector registered first.
func newMetrics(reg prometheus.Registerer, consumer string) (*metrics, error) {
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storefront_consumer_messages_total",
		Help: "Messages handled by a consumer, by outcome (processed, duplicate, retried, dead_lettered).",
	}, []string{"consumer", "outcome"})
	pending := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storefront_consumer_pending",
		Help: "Messages on the stream not yet delivered to the consumer (JetStream NumPending).",
	}, []string{"consumer"})
	deadLetters := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storefront_consumer_dead_letters_total",
		Help: "Messages a consumer copied to the dead-letter stream.",
	}, []string{"consumer"})

	var err error
	if reg != nil {
		if messages, err = telemetry.RegisterOrExisting(reg, messages); err != nil {
			return nil, fmt.Errorf("register consumer metrics: %w", err)
		}
		if pending, err = telemetry.RegisterOrExisting(reg, pending); err != nil {
			return nil, fmt.Errorf("register consumer metrics: %w", err)
		}
		if deadLetters, err = telemetry.RegisterOrExisting(reg, deadLetters); err != nil {
			return nil, fmt.Errorf("register consumer metrics: %w", err)
		}
	}

	m := &metrics{
		messages:    messages.MustCurryWith(prometheus.Labels{"consumer": consumer}),
		pending:     pending.WithLabelValues(consumer),
		deadLetters: deadLetters.WithLabelValues(consumer),
	}
	// Expose every outcome from the start so rate() sees the first increment.
	for _, o := range []string{outcomeProcessed, outcomeDuplicate, outcomeRetried, outcomeDeadLettered} {
		m.messages.WithLabelValues(o)
	}
	return m, nil
}

func (m *metrics) count(outcome string) {
	m.messages.WithLabelValues(outcome).Inc()
}
