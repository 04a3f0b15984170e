package outbox

import "time"

// Defaults for RelayConfig fields left at zero.
const (
	DefaultBatchSize       = 100
	DefaultPollInterval    = 200 * time.Millisecond
	DefaultMaxBackoff      = 10 * time.Second
	DefaultRetention       = 72 * time.Hour
	DefaultCleanupInterval = 10 * time.Minute
	DefaultPublishTimeout  = 5 * time.Second
	DefaultMaxAttempts     = 20
)

// RelayConfig tunes a Relay. Zero or negative fields take the defaults.
type RelayConfig struct {
	// BatchSize is how many rows one transaction claims and publishes.
	BatchSize int `env:"OUTBOX_BATCH_SIZE" envDefault:"100"`
	// PollInterval is the pause between polls when nothing is pending.
	PollInterval time.Duration `env:"OUTBOX_POLL_INTERVAL" envDefault:"200ms"`
	// MaxBackoff caps the pause after failed publishes, which doubles from
	// PollInterval on each consecutive failure.
	MaxBackoff time.Duration `env:"OUTBOX_MAX_BACKOFF" envDefault:"10s"`
	// Retention is how long published rows are kept for replay. Parked rows
	// are never deleted: they wait for an operator to requeue or delete them.
	Retention time.Duration `env:"OUTBOX_RETENTION" envDefault:"72h"`
	// CleanupInterval is how often published rows past Retention are deleted.
	CleanupInterval time.Duration `env:"OUTBOX_CLEANUP_INTERVAL" envDefault:"10m"`
	// PublishTimeout bounds the wait for one PubAck.
	PublishTimeout time.Duration `env:"OUTBOX_PUBLISH_TIMEOUT" envDefault:"5s"`
	// MaxAttempts is how many attempts a row gets before a failure that is
	// the row's own (no stream for its subject, too large, its stream
	// sealed) parks it. Outages (the connection or JetStream down, a full
	// account or stream) never park a row, however many attempts they cost.
	MaxAttempts int `env:"OUTBOX_MAX_ATTEMPTS" envDefault:"20"`
}

// withDefaults returns c with every unset field filled in.
func (c RelayConfig) withDefaults() RelayConfig {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.PollInterval {
		c.MaxBackoff = c.PollInterval
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.CleanupInterval <= 0 {
		c.CleanupInterval = DefaultCleanupInterval
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	return c
}

// backoff returns the pause after the given number of consecutive failed
// batches, or before a failed row's next attempt: PollInterval doubled per
// failure, capped at MaxBackoff.
func (c RelayConfig) backoff(failures int) time.Duration {
	d := c.PollInterval
	for i := 0; i < failures && d < c.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, c.MaxBackoff)
}
