package testenv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

const (
	embeddedHost = "127.0.0.1"
	// embeddedStartAttempts bounds retries when the port is briefly
	// unavailable after a shutdown.
	embeddedStartAttempts = 20
)

// EmbeddedServer is an in-process NATS server with JetStream that a test
// can shut down and restart on the same port and store, to simulate an
// outage that clients recover from by reconnecting. Go does not allow the
// type to share the name of its constructor, EmbeddedNATS.
type EmbeddedServer struct {
	mu       sync.Mutex
	srv      *server.Server
	storeDir string
	port     int
}

// EmbeddedNATS starts an in-process NATS server with JetStream, storing
// under t.TempDir() and listening on 127.0.0.1. The server is shut down when
// t ends.
func EmbeddedNATS(tb testing.TB) *EmbeddedServer {
	tb.Helper()
	e := &EmbeddedServer{storeDir: tb.TempDir()}
	var err error
	for range 3 {
		// The port stays fixed so clients can reconnect after Restart.
		if e.port, err = portBelowEphemeral(); err != nil {
			tb.Fatalf("start embedded nats: %v", err)
		}
		if e.srv, err = e.start(); err == nil {
			tb.Cleanup(e.Shutdown)
			return e
		}
	}
	tb.Fatalf("start embedded nats: %v", err)
	return nil
}

// portBelowEphemeral returns a loopback port that was free a moment ago,
// drawn below Linux's ephemeral range (32768-60999). Listeners on ":0" and
// outgoing connections take ports from that range, so none of them can take
// this port while the server is down between Shutdown and Restart.
func portBelowEphemeral() (int, error) {
	const lo, hi = 20000, 32000
	var lc net.ListenConfig
	for range 200 {
		port := lo + rand.IntN(hi-lo) //nolint:gosec // picking a test port, not a secret.
		l, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(embeddedHost, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		if err := l.Close(); err != nil {
			return 0, err
		}
		return port, nil
	}
	return 0, errors.New("no free loopback port between 20000 and 32000")
}

func (e *EmbeddedServer) start() (*server.Server, error) {
	opts := &server.Options{
		ServerName: "testenv-embedded",
		Host:       embeddedHost,
		Port:       e.port,
		JetStream:  true,
		StoreDir:   e.storeDir,
		NoSigs:     true,
		NoLog:      true,
	}
	var lastErr error
	for range embeddedStartAttempts {
		srv, err := server.NewServer(opts)
		if err != nil {
			return nil, fmt.Errorf("new server: %w", err)
		}
		srv.Start()
		if srv.ReadyForConnections(10*time.Second) && srv.JetStreamEnabled() {
			return srv, nil
		}
		srv.Shutdown()
		srv.WaitForShutdown()
		lastErr = fmt.Errorf("server on port %d not ready", e.port)
		time.Sleep(250 * time.Millisecond)
	}
	return nil, lastErr
}

// LimitAccountStorage sets the JetStream file storage limit of the
// server's (global) account to maxBytes, or lifts it with -1. A publish
// that would take the account over the limit is refused with JetStream
// error code 10002 ("resource limits exceeded for account", status 400).
// The limit lasts until Restart.
func (e *EmbeddedServer) LimitAccountStorage(tb testing.TB, maxBytes int64) {
	tb.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil {
		tb.Fatal("limit account storage: the server is down")
	}
	limits := server.JetStreamAccountLimits{
		MaxMemory:            -1,
		MaxStore:             maxBytes,
		MaxStreams:           -1,
		MaxConsumers:         -1,
		MaxAckPending:        -1,
		MemoryMaxStreamBytes: -1,
		StoreMaxStreamBytes:  -1,
	}
	// The empty tier holds the limits of an account without tiers.
	if err := e.srv.GlobalAccount().UpdateJetStreamLimits(map[string]server.JetStreamAccountLimits{"": limits}); err != nil {
		tb.Fatalf("limit account storage to %d bytes: %v", maxBytes, err)
	}
}

// URL returns the client URL, stable across Restart.
func (e *EmbeddedServer) URL() string {
	return "nats://" + net.JoinHostPort(embeddedHost, strconv.Itoa(e.port))
}

// Shutdown stops the server and keeps its store, so Restart brings the
// streams back. It is a no-op when the server is already down.
func (e *EmbeddedServer) Shutdown() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil {
		return
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.srv = nil
}

// Restart starts a new server on the same port and store directory. It
// shuts the current server down first if it is still running.
func (e *EmbeddedServer) Restart(tb testing.TB) {
	tb.Helper()
	e.Shutdown()
	e.mu.Lock()
	defer e.mu.Unlock()
	srv, err := e.start()
	if err != nil {
		tb.Fatalf("restart embedded nats: %v", err)
	}
	e.srv = srv
}
