package broker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// reconnectWait is the pause between reconnect attempts.
const reconnectWait = 500 * time.Millisecond

// Config holds the NATS settings read from the environment.
type Config struct {
	URL string `env:"NATS_URL,required"`
	// Name identifies the client in server monitoring, usually the service.
	Name            string
	ReplicaCount    int           `env:"NATS_STREAM_REPLICAS" envDefault:"1"`
	DuplicateWindow time.Duration `env:"NATS_DUPLICATE_WINDOW" envDefault:"2h"`
}

// StreamSpec returns a spec for a stream that takes its replica count and
// duplicate window from the configuration.
func (c Config) StreamSpec(name string, subjects ...string) StreamSpec {
	return StreamSpec{
		Name:            name,
		Subjects:        subjects,
		Replicas:        c.ReplicaCount,
		DuplicateWindow: c.DuplicateWindow,
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
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	return nc, nil
}
