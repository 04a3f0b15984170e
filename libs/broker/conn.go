package broker

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// reconnectWait is the pause between reconnect attempts.
const reconnectWait = 500 * time.Millisecond

// Defaults of the stream limits in Config.
const (
	// DefaultStreamMaxAge keeps an event a week: a consumer may be down
	// over a long weekend and still find every event it missed, and it
	// covers the consumers' inbox retention (7 days), within which a
	// redelivered event is still recognised.
	DefaultStreamMaxAge = 7 * 24 * time.Hour
	// DefaultStreamMaxBytes bounds one stream (per replica) at 1 GiB: about
	// two million events at 0.5 KiB (an event with its headers takes a few
	// hundred bytes), a week of ~3.5 events a second on average. A stream
	// whose traffic needs more is sized up with NATS_STREAM_MAX_BYTES (see
	// docs/operations.md); one that fills makes the producers wait, it does
	// not lose events.
	DefaultStreamMaxBytes = 1 * GiB
)

// Config holds the NATS settings read from the environment.
type Config struct {
	URL string `env:"NATS_URL,required"`
	// CredsFile is a NATS credentials file (a user JWT and its nkey seed,
	// as `nsc generate creds` writes it), for servers in operator mode;
	// empty connects without credentials. It is re-read on every
	// reconnect, so a rotated file is picked up.
	CredsFile string `env:"NATS_CREDS_FILE"`
	// Name identifies the client in server monitoring, usually the service.
	Name            string
	ReplicaCount    int           `env:"NATS_STREAM_REPLICAS" envDefault:"1"`
	DuplicateWindow time.Duration `env:"NATS_DUPLICATE_WINDOW" envDefault:"2h"`
	// MaxAge is how long a stream keeps an event; 0 keeps events for ever,
	// so that only MaxBytes bounds the stream and a full one stays full
	// until an operator makes room.
	MaxAge time.Duration `env:"NATS_STREAM_MAX_AGE" envDefault:"168h"`
	// MaxBytes bounds a stream's size. A full stream refuses new events
	// (discard new), so the outbox holds them until there is room; 0 means
	// no bound but the account's or server's storage.
	MaxBytes ByteSize `env:"NATS_STREAM_MAX_BYTES" envDefault:"1GiB"`
}

// Validate reports settings the server would refuse when creating a
// stream, so they stop start-up instead of leaving streams unprovisioned.
func (c Config) Validate() error {
	var problems []string
	if c.DuplicateWindow < 0 {
		problems = append(problems, fmt.Sprintf("NATS_DUPLICATE_WINDOW: %v is negative", c.DuplicateWindow))
	}
	if c.MaxAge < 0 {
		problems = append(problems, fmt.Sprintf("NATS_STREAM_MAX_AGE: %v is negative", c.MaxAge))
	}
	if c.MaxAge > 0 && c.DuplicateWindow > c.MaxAge {
		problems = append(problems, fmt.Sprintf("NATS_DUPLICATE_WINDOW: %v is longer than NATS_STREAM_MAX_AGE %v", c.DuplicateWindow, c.MaxAge))
	}
	if c.MaxBytes < 0 {
		problems = append(problems, fmt.Sprintf("NATS_STREAM_MAX_BYTES: %d is negative", c.MaxBytes))
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid nats configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// StreamSpec returns a spec for a stream that takes its replica count,
// duplicate window and limits from the configuration.
func (c Config) StreamSpec(name string, subjects ...string) StreamSpec {
	return StreamSpec{
		Name:            name,
		Subjects:        subjects,
		Replicas:        c.ReplicaCount,
		DuplicateWindow: c.DuplicateWindow,
		MaxAge:          c.MaxAge,
		MaxBytes:        int64(c.MaxBytes),
	}
}

// Connect opens a connection that keeps reconnecting forever, including
// when the server is down at start, so a NATS outage degrades the service
// instead of stopping it. Connection state changes are logged.
func Connect(cfg Config, logger *slog.Logger) (*nats.Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.String("component", "nats"))
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(reconnectWait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", slog.Any("error", err))
				return
			}
			logger.Info("nats disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", slog.String("url", nc.ConnectedUrlRedacted()))
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			logger.Info("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{slog.Any("error", err)}
			if sub != nil {
				attrs = append(attrs, slog.String("subject", sub.Subject))
			}
			logger.Error("nats async error", attrs...)
		}),
	}
	if cfg.Name != "" {
		opts = append(opts, nats.Name(cfg.Name))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	return nc, nil
}
