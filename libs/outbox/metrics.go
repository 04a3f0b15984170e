package outbox

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the kind label of storefront_outbox_publish_errors_total.
const (
	kindOutage = "outage"
	kindRow    = "row"
)

// metrics are a relay's Prometheus collectors.
type metrics struct {
	pending         prometheus.Gauge
	oldestAge       prometheus.Gauge
	dead            prometheus.Gauge
	deadTotal       prometheus.Counter
	published       prometheus.Counter
	publishErrors   *prometheus.CounterVec
	outageFailures  prometheus.Counter
	rowFailures     prometheus.Counter
	duplicates      prometheus.Counter
	cleanupDeletion prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "storefront_outbox_pending",
			Help: "Outbox events not yet published, parked ones excluded.",
		}),
		oldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "storefront_outbox_oldest_pending_age_seconds",
			Help: "Age of the oldest unpublished outbox event that is not parked; zero when none is pending.",
		}),
		dead: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "storefront_outbox_dead",
			Help: "Outbox events parked after MaxAttempts failures of their own; they wait for an operator to requeue them.",
		}),
		deadTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "storefront_outbox_dead_total",
			Help: "Outbox events this relay parked.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "storefront_outbox_published_total",
			Help: "Outbox events published and acknowledged by JetStream.",
		}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storefront_outbox_publish_errors_total",
			Help: `Failed attempts to publish an outbox event, by kind: "outage" (NATS or JetStream down, full, over a quota or without a leader: publishing waits and backs off, nothing is parked) or "row" (the event itself is refused: it is retried and parked after OUTBOX_MAX_ATTEMPTS).`,
		}, []string{"kind"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "storefront_outbox_publish_duplicates_total",
			Help: "Published outbox events that JetStream reported as duplicates, i.e. re-published after a crash or lost acknowledgement.",
		}),
		cleanupDeletion: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "storefront_outbox_cleaned_up_total",
			Help: "Published outbox events deleted after the retention period.",
		}),
	}
	// Both series exist from the start, so rate() and alerts see zeros.
	m.outageFailures = m.publishErrors.WithLabelValues(kindOutage)
	m.rowFailures = m.publishErrors.WithLabelValues(kindRow)
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.pending, m.oldestAge, m.dead, m.deadTotal, m.published, m.publishErrors, m.duplicates, m.cleanupDeletion} {
		// A second relay on the same registry fails here: the metrics are
		// per process, so run one relay per process.
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register outbox metrics: %w", err)
		}
	}
	return m, nil
}
