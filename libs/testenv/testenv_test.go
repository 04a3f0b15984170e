package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storefront-go/storefront/libs/testenv"
)

func TestEmbeddedNATSRestartKeepsStream(t *testing.T) {
	t.Parallel()
	srv := testenv.EmbeddedNATS(t)
	urlBefore := srv.URL()

	reconnected := make(chan struct{}, 1)
	nc, err := nats.Connect(srv.URL(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}),
	)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "KEEP",
		Subjects: []string{"keep.>"},
		Storage:  jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "keep.one", []byte("before")); err != nil {
		t.Fatalf("publish: %v", err)
	}

	srv.Shutdown()
	srv.Shutdown() // idempotent
	srv.Restart(t)

	if got := srv.URL(); got != urlBefore {
		t.Errorf("URL after restart = %q, want %q", got, urlBefore)
	}
	select {
	case <-reconnected:
	case <-ctx.Done():
		t.Fatal("client did not reconnect after restart")
	}
	stream, err := js.Stream(ctx, "KEEP")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream messages after restart = %d, want 1", info.State.Msgs)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("get message: %v", err)
	}
	if string(msg.Data) != "before" {
		t.Errorf("message data = %q, want %q", msg.Data, "before")
	}
}

func TestEmbeddedNATSShutdownRefusesClients(t *testing.T) {
	t.Parallel()
	srv := testenv.EmbeddedNATS(t)
	srv.Shutdown()
	nc, err := nats.Connect(srv.URL(), nats.Timeout(time.Second), nats.NoReconnect())
	if err == nil {
		nc.Close()
		t.Fatal("connect to a shut down server: got nil error")
	}
}

func TestPostgresContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	t.Parallel()
	p, err := testenv.StartPostgres(t.Context())
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		if err := p.Terminate(ctx); err != nil {
			t.Errorf("terminate: %v", err)
		}
	})

	var dbA, dbB string
	t.Run("databases are isolated", func(t *testing.T) {
		a, b := p.NewDatabase(t), p.NewDatabase(t)
		if a == b {
			t.Fatalf("NewDatabase returned the same DSN twice: %s", a)
		}
		dbA, dbB = dbName(t, a), dbName(t, b)
		conn := connect(t, a)
		if _, err := conn.Exec(t.Context(), "CREATE TABLE only_in_a (id int)"); err != nil {
			t.Fatalf("create table: %v", err)
		}
		other := connect(t, b)
		var exists bool
		if err := other.QueryRow(t.Context(), "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&exists); err != nil {
			t.Fatalf("query: %v", err)
		}
		if exists {
			t.Error("table created in one database is visible in another")
		}
	})

	// The subtest's cleanup dropped both databases, even with open clients.
	admin := connect(t, p.AdminDSN())
	var n int
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", []string{dbA, dbB}).Scan(&n); err != nil {
		t.Fatalf("count databases: %v", err)
	}
	if n != 0 {
		t.Errorf("%d test databases left after cleanup, want 0", n)
	}

	t.Run("pause and unpause", func(t *testing.T) {
		dsn := p.NewDatabase(t)
		if err := p.Pause(t.Context()); err != nil {
			t.Fatalf("Pause() error = %v", err)
		}
		paused := true
		t.Cleanup(func() {
			if paused {
				if err := p.Unpause(context.WithoutCancel(t.Context())); err != nil {
					t.Errorf("Unpause() error = %v", err)
				}
			}
		})
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, dsn); err == nil {
			_ = conn.Close(context.WithoutCancel(ctx))
			t.Fatal("connected to a paused server")
		}
		if err := p.Unpause(t.Context()); err != nil {
			t.Fatalf("Unpause() error = %v", err)
		}
		paused = false
		// Same DSN, same port: the server answers again.
		conn := connect(t, dsn)
		var one int
		if err := conn.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil {
			t.Errorf("query after Unpause: %v", err)
		}
	})
}

func TestPostgresDB(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDB(t)
	conn := connect(t, dsn)
	var one int
	if err := conn.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("query: %v", err)
	}
	if one != 1 {
		t.Errorf("SELECT 1 = %d", one)
	}
}

func TestNATSContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	t.Parallel()
	n, err := testenv.StartNATS(t.Context())
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		if err := n.Terminate(ctx); err != nil {
			t.Errorf("terminate: %v", err)
		}
	})
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "C", Subjects: []string{"c.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "c.x", []byte("x")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream messages = %d, want 1", info.State.Msgs)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.WithoutCancel(t.Context())) })
	return conn
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse dsn: %v", err)
	}
	return cfg.Database
}
