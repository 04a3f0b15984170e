package grpcclient

import (
	"errors"
	"fmt"
	"time"
)

// minKeepaliveTime matches the servers' keepalive enforcement MinTime; pinging
// more often makes them close the connection with ENHANCE_YOUR_CALM.
const minKeepaliveTime = 10 * time.Second

// Config describes one client connection. Its env tags are relative, so a
// caller loads it with a prefix such as env.Options{Prefix: "CATALOGUE_"}.
// Zero values take the same defaults as the envDefault tags, so a Config
// built in code needs only Name and Target.
type Config struct {
	// Name identifies the target in breaker errors, logs and metrics
	// (e.g. "catalogue"). It defaults to Target.
	Name string
	// Target is a grpc target such as dns:///catalogue:50051.
	Target string `env:"ADDR"`
	// DefaultTimeout is the deadline of a call whose context has none, and
	// the cap on a longer caller deadline.
	DefaultTimeout time.Duration `env:"TIMEOUT" envDefault:"2s"`
	// MaxAttempts bounds attempts of an idempotent call (grpc caps it at 5);
	// 1 disables retries.
	MaxAttempts int `env:"MAX_ATTEMPTS" envDefault:"3"`
	// KeepaliveTime is the idle time before a ping; at least 10s.
	KeepaliveTime time.Duration `env:"KEEPALIVE_TIME" envDefault:"30s"`
	// KeepaliveTimeout is how long to wait for a ping ack before closing.
	KeepaliveTimeout time.Duration `env:"KEEPALIVE_TIMEOUT" envDefault:"10s"`

	// BreakerMinRequests is how many calls the breaker needs to see in one
	// interval before it may trip.
	BreakerMinRequests uint32 `env:"BREAKER_MIN_REQUESTS" envDefault:"5"`
	// BreakerFailureRatio trips the breaker when failures/requests exceeds it.
	BreakerFailureRatio float64 `env:"BREAKER_FAILURE_RATIO" envDefault:"0.6"`
	// BreakerOpenTimeout is how long the breaker stays open before a probe.
	BreakerOpenTimeout time.Duration `env:"BREAKER_OPEN_TIMEOUT" envDefault:"30s"`
	// BreakerInterval is how often counts reset while the breaker is closed.
	BreakerInterval time.Duration `env:"BREAKER_INTERVAL" envDefault:"60s"`
	// BreakerHalfOpenRequests is how many probes may run while half-open.
	BreakerHalfOpenRequests uint32 `env:"BREAKER_HALF_OPEN_REQUESTS" envDefault:"1"`

	// CAFile verifies the server; setting any TLS file switches to TLS.
	CAFile string `env:"TLS_CA"`
	// CertFile is the client certificate for mTLS; it needs KeyFile.
	CertFile string `env:"TLS_CERT"`
	// KeyFile is the client key for mTLS; it needs CertFile.
	KeyFile string `env:"TLS_KEY"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `env:"TLS_SERVER_NAME"`
}

// withDefaults fills zero fields so that a Config built in code behaves like
// one loaded from an empty environment.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = c.Target
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = 2 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.KeepaliveTime == 0 {
		c.KeepaliveTime = 30 * time.Second
	}
	if c.KeepaliveTimeout == 0 {
		c.KeepaliveTimeout = 10 * time.Second
	}
	if c.BreakerMinRequests == 0 {
		c.BreakerMinRequests = 5
	}
	if c.BreakerFailureRatio == 0 {
		c.BreakerFailureRatio = 0.6
	}
	if c.BreakerOpenTimeout == 0 {
		c.BreakerOpenTimeout = 30 * time.Second
	}
	if c.BreakerInterval == 0 {
		c.BreakerInterval = 60 * time.Second
	}
	if c.BreakerHalfOpenRequests == 0 {
		c.BreakerHalfOpenRequests = 1
	}
	return c
}

// validate reports every invalid field at once.
func (c Config) validate() error {
	var errs []error
	if c.Target == "" {
		errs = append(errs, errors.New("target is empty"))
	}
	if c.DefaultTimeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", c.DefaultTimeout))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts %d is below 1", c.MaxAttempts))
	}
	if c.KeepaliveTime < minKeepaliveTime {
		errs = append(errs, fmt.Errorf("keepalive time %s is below the servers' minimum %s", c.KeepaliveTime, minKeepaliveTime))
	}
	if c.KeepaliveTimeout < 0 {
		errs = append(errs, fmt.Errorf("keepalive timeout %s is negative", c.KeepaliveTimeout))
	}
	if c.BreakerFailureRatio <= 0 || c.BreakerFailureRatio > 1 {
		errs = append(errs, fmt.Errorf("breaker failure ratio %g is outside (0, 1]", c.BreakerFailureRatio))
	}
	if c.BreakerOpenTimeout < 0 {
		errs = append(errs, fmt.Errorf("breaker open timeout %s is negative", c.BreakerOpenTimeout))
	}
	if c.BreakerInterval < 0 {
		errs = append(errs, fmt.Errorf("breaker interval %s is negative", c.BreakerInterval))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("tls cert and key must be set together"))
	}
	return errors.Join(errs...)
}

// tlsEnabled reports whether any TLS setting is present.
func (c Config) tlsEnabled() bool {
	return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
}
