package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storefront-go/storefront/libs/broker"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/outbox"
	"github.com/storefront-go/storefront/libs/testenv"
)

// TestOutboxParkedAndRequeue parks two events for real (a relay publishes
// to subjects no stream covers), lists them, creates the missing stream,
// requeues one by id and the other with --all, and checks that the relay
// then publishes both.
func TestOutboxParkedAndRequeue(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDB(t) // skips under -short
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := outbox.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate outbox: %v", err)
	}
	e := newNATSEnv(t)
	env := map[string]string{"STOREFRONT_DATABASE_URL": dsn}

	got := runCLI(t, env, "outbox", "parked")
	if got.code != exitOK || got.stdout != "no parked outbox events\n" {
		t.Fatalf("parked before anything: exit %d, stdout %q, stderr %q", got.code, got.stdout, got.stderr)
	}

	var ids []uuid.UUID
	for _, orderID := range []string{"first", "second"} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			id, err := outbox.Enqueue(ctx, tx, "parked.order.placed", &ordersv1.OrderPlaced{OrderId: orderID})
			ids = append(ids, id)
			return err
		})
		if err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
	relay, err := outbox.NewRelay(pool, e.js, outbox.RelayConfig{
		MaxAttempts: 1, PollInterval: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	}, nil, nil)
	if err != nil {
		t.Fatalf("new relay: %v", err)
	}
	// With one attempt allowed, a flush parks both rows.
	if err := relay.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}

	got = runCLI(t, env, "outbox", "parked")
	if got.code != exitOK {
		t.Fatalf("parked: exit %d, stderr %q", got.code, got.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(got.stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("parked printed %q, want a header and two rows", got.stdout)
	}
	for i, id := range ids {
		if !strings.HasPrefix(lines[i+1], id.String()+"  ") || !strings.Contains(lines[i+1], "parked.order.placed") ||
			!strings.Contains(lines[i+1], "orders.v1.OrderPlaced") {
			t.Errorf("row %d = %q, want event %s on parked.order.placed", i, lines[i+1], id)
		}
	}

	got = runCLI(t, env, "--json", "outbox", "parked", "--limit", "1")
	var row parkedRow
	if got.code != exitOK || strings.Count(got.stdout, "\n") != 1 {
		t.Fatalf("parked --json --limit 1: exit %d, stdout %q, stderr %q", got.code, got.stdout, got.stderr)
	}
	if err := json.Unmarshal([]byte(got.stdout), &row); err != nil {
		t.Fatalf("parked --json: %v", err)
	}
	if row.ID != ids[0].String() || row.Attempts != 1 || row.LastError == "" || row.DeadAt.IsZero() {
		t.Errorf("parked --json = %+v, want the oldest event with one attempt and its error", row)
	}

	// Fix the cause, then requeue the first by id (with an unknown id)
	// and the rest with --all.
	if _, err := broker.EnsureStream(ctx, e.js, broker.StreamSpec{Name: "PARKED", Subjects: []string{"parked.>"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	// The same id twice counts once.
	got = runCLI(t, env, "outbox", "requeue", ids[0].String(), uuid.NewString(), ids[0].String())
	if want := "requeued 1 parked outbox event(s)\n1 id(s) named no parked event (unknown, published or already requeued)\n"; got.code != exitOK || got.stdout != want {
		t.Errorf("requeue by id: exit %d, stdout %q, stderr %q; want %q", got.code, got.stdout, got.stderr, want)
	}
	got = runCLI(t, env, "--json", "outbox", "requeue", "--all")
	if got.code != exitOK || got.stdout != "{\"requeued\":1}\n" {
		t.Errorf("requeue --all: exit %d, stdout %q, stderr %q", got.code, got.stdout, got.stderr)
	}
	if err := relay.Flush(ctx); err != nil {
		t.Fatalf("flush after requeue: %v", err)
	}
	stream, err := e.js.Stream(ctx, "PARKED")
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("PARKED holds %d messages, want the 2 requeued events", info.State.Msgs)
	}
	got = runCLI(t, env, "outbox", "parked")
	if got.stdout != "no parked outbox events\n" {
		t.Errorf("parked after requeue and flush: %q, want none", got.stdout)
	}
}

func TestOutboxUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantStderr string
	}{
		{
			name:       "no database url",
			args:       []string{"outbox", "parked"},
			wantStderr: "error: outbox parked: want --database-url (or $STOREFRONT_DATABASE_URL): the service's Postgres\n",
		},
		{
			name:       "bad database url keeps the password out",
			args:       []string{"outbox", "parked", "--database-url", "postgres://u:s3cret@host:notaport/db"},
			wantStderr: "error: outbox parked: --database-url is not a valid Postgres URL\n",
		},
		{
			name:       "ids and --all",
			env:        map[string]string{"STOREFRONT_DATABASE_URL": "postgres://127.0.0.1:1/x"},
			args:       []string{"outbox", "requeue", "--all", uuid.NewString()},
			wantStderr: "error: outbox requeue: give ID... or --all, not both\n",
		},
		{
			name:       "nothing to requeue",
			args:       []string{"outbox", "requeue"},
			wantStderr: "error: outbox requeue: want ID... or --all\n",
		},
		{
			name:       "not a uuid",
			args:       []string{"outbox", "requeue", "42"},
			wantStderr: "error: outbox requeue: \"42\" is not an event id (a UUID)\n",
		},
		{
			name:       "zero limit",
			args:       []string{"outbox", "parked", "--limit", "0"},
			wantStderr: "error: outbox parked: --limit must be positive\n",
		},
		{
			name:       "unknown subcommand",
			args:       []string{"outbox", "purge"},
			wantStderr: "error: outbox: unknown command \"purge\" (want parked or requeue)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, tt.env, tt.args...)
			if got.code != exitUsage || got.stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", got.code, got.stdout, exitUsage)
			}
			gotStderr, _, _ := strings.Cut(got.stderr, "Run 'storefrontctl help'")
			if gotStderr != tt.wantStderr {
				t.Errorf("stderr %q, want %q", gotStderr, tt.wantStderr)
			}
			if strings.Contains(got.stderr, "s3cret") {
				t.Errorf("stderr %q shows the password", got.stderr)
			}
		})
	}
}

func TestOutboxUnreachableDatabase(t *testing.T) {
	t.Parallel()
	got := runCLI(t, nil, "--timeout", "2s", "outbox", "parked", "--database-url", "postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=1")
	if got.code != exitError || !strings.HasPrefix(got.stderr, "error: connect to Postgres at 127.0.0.1:1: ") {
		t.Errorf("exit %d, stderr %q; want 1 and a connection error", got.code, got.stderr)
	}
	if strings.Contains(got.stderr, "s3cret") {
		t.Errorf("stderr %q shows the password", got.stderr)
	}
}
