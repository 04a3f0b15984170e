package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storefront-go/storefront/libs/config"
)

// runStopTimeout bounds how long a replica or process may take to stop.
const runStopTimeout = 30 * time.Second

// loopbackAnyPort lets the kernel pick a free loopback port.
const loopbackAnyPort = "127.0.0.1:0"

// ReplicaEnv returns the environment of one service replica: its database
// and NATS server, a's JWKS file, issuer and audience, loopback ports the
// kernel picks, and a short shutdown timeout. Each of overrides, in order,
// adds or replaces variables.
func ReplicaEnv(dsn, natsURL string, a *Auth, overrides ...map[string]string) map[string]string {
	env := map[string]string{
		"DATABASE_URL":     dsn,
		"NATS_URL":         natsURL,
		"AUTH_JWKS_FILE":   a.JWKSFile,
		"AUTH_ISSUER":      a.Issuer,
		"AUTH_AUDIENCE":    a.Audience,
		"GRPC_ADDR":        loopbackAnyPort,
		"HTTP_ADDR":        loopbackAnyPort,
		"ADMIN_ADDR":       loopbackAnyPort,
		"SHUTDOWN_TIMEOUT": "5s",
		"GRPC_REFLECTION":  "true",
	}
	for _, o := range overrides {
		maps.Copy(env, o)
	}
	return env
}

// LoadConfig reads a C from env as the service reads its configuration
// from the process environment, and fails t if it can't.
func LoadConfig[C any](tb testing.TB, env map[string]string) C {
	tb.Helper()
	cfg, err := config.LoadWithEnv[C](env)
	if err != nil {
		tb.Fatalf("load config: %v", err)
	}
	return cfg
}

// Runner is a replica StartReplica can run; *service.Host is one. testenv
// doesn't import libs/service, whose dependencies' own tests use testenv.
type Runner interface {
	Listen() error
	Run(ctx context.Context) error
}

// Replica is a service replica running in this process until its test
// ends or Stop is called.
type Replica[R Runner] struct {
	name   string
	host   R
	logs   *LogBuffer
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result; read only after done is closed
	// handed is set once Stop has returned Run's result to the test, which
	// then owns reporting it.
	handed atomic.Bool
}

// ReplicaOption tunes StartReplica.
type ReplicaOption func(*replicaOptions)

type replicaOptions struct {
	stderrEnv string
}

// WithStderrLogs also writes the replica's logs to stderr when the
// environment variable env is set (say CATALOGUE_TEST_LOG=1), to follow a
// test as it runs. The logs are captured either way.
func WithStderrLogs(env string) ReplicaOption {
	return func(o *replicaOptions) { o.stderrEnv = env }
}

// StartReplica builds a replica with build, binds its ports and runs it in
// the background. build gets a context that lasts until the replica stops
// and a logger that writes JSON at debug level into the replica's Logs;
// a failed test reports their tail. When t ends the replica is stopped,
// within 30s, and an error from Run fails t unless Stop already returned
// it. name labels the replica in failure reports.
func StartReplica[R Runner](tb testing.TB, name string, build func(ctx context.Context, logger *slog.Logger) (R, error), opts ...ReplicaOption) *Replica[R] {
	tb.Helper()
	var o replicaOptions
	for _, opt := range opts {
		opt(&o)
	}
	logs := &LogBuffer{}
	var w io.Writer = logs
	if o.stderrEnv != "" && os.Getenv(o.stderrEnv) != "" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	// tb.Log can'tb take these logs: replicas log while they shut down in
	// cleanups, and from goroutines that outlive subtests.
	logger := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Registered first so it runs last, with the shutdown logs in.
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("%s logs:\n%s", name, logs.Tail(failureLogLines))
		}
	})

	// The replica outlives tb.Context(), which ends before cleanups run, so
	// it stops in its own cleanup, before the database it uses is dropped.
	ctx, cancel := context.WithCancel(context.WithoutCancel(tb.Context()))
	host, err := build(ctx, logger)
	if err != nil {
		cancel()
		tb.Fatalf("new %s: %v", name, err)
	}
	if err := host.Listen(); err != nil {
		cancel()
		tb.Fatalf("%s listen: %v", name, err)
	}
	r := &Replica[R]{name: name, host: host, logs: logs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = host.Run(ctx)
	}()
	tb.Cleanup(func() {
		err := r.stop()
		if err != nil && !r.handed.Load() {
			tb.Errorf("%s run: %v", name, err)
		}
	})
	return r
}

// Host is the running replica.
func (r *Replica[R]) Host() R { return r.host }

// Logs holds what the replica has logged.
func (r *Replica[R]) Logs() *LogBuffer { return r.logs }

// Done is closed once Run has returned, on its own or after Stop.
func (r *Replica[R]) Done() <-chan struct{} { return r.done }

// Stop cancels the replica's context, waits up to 30s for Run to return
// and returns its error; if Run has returned already, Stop returns its
// error at once. The test then owns that error: the cleanup doesn't
// report it again.
func (r *Replica[R]) Stop() error {
	r.handed.Store(true)
	return r.stop()
}

func (r *Replica[R]) stop() error {
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(runStopTimeout):
		return fmt.Errorf("%s did not stop within %s", r.name, runStopTimeout)
	}
}
