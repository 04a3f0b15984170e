package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/libs/postgres"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := env.ParseAsWithOptions[postgres.Config](env.Options{
		Environment: map[string]string{"DATABASE_URL": "postgres://u:p@db:5432/app"},
	})
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	want := postgres.Config{
		URL:            "postgres://u:p@db:5432/app",
		MaxConns:       10,
		MinConns:       0,
		PublicMaxConns: 4,
		ConnectTimeout: 5 * time.Second,
		// Below the RPC ceilings (10s reads, 20s writes).
		StatementTimeout: 8 * time.Second,
		LockTimeout:      4 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
}

func TestLanesSendStrangersReadsToThePublicPool(t *testing.T) {
	t.Parallel()
	dsn := newDatabase(t)
	cfg := postgres.Config{URL: dsn, MaxConns: 3, PublicMaxConns: 2}
	main, err := postgres.NewPool(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(main.Close)
	public, err := postgres.NewPublicPool(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(public.Close)
	if got := public.Config().MaxConns; got != 2 {
		t.Errorf("public pool MaxConns = %d, want DATABASE_PUBLIC_MAX_CONNS 2", got)
	}

	type strangerKey struct{}
	lanes := postgres.Lanes{Main: main, Public: public, Anonymous: func(ctx context.Context) bool {
		return ctx.Value(strangerKey{}) != nil
	}}
	stranger := context.WithValue(t.Context(), strangerKey{}, true)
	if lanes.Reader(stranger) != public {
		t.Error("a stranger's read does not use the public pool")
	}
	if lanes.Reader(t.Context()) != main {
		t.Error("the service's own read does not use the main pool")
	}
	// Strangers holding every public connection leave the main pool free.
	held := make([]*pgxpool.Conn, 0, 2)
	for range 2 {
		c, err := lanes.Reader(stranger).Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	short, cancel := context.WithTimeout(stranger, 100*time.Millisecond)
	defer cancel()
	if _, err := lanes.Reader(short).Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third stranger acquire: %v, want to wait for a public connection", err)
	}
	var one int
	if err := lanes.Reader(t.Context()).QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("main-lane read while strangers hold the public pool: %v", err)
	}
	for _, c := range held {
		c.Release()
	}

	none, err := postgres.NewPublicPool(t.Context(), postgres.Config{URL: dsn})
	if err != nil || none != nil {
		t.Errorf("NewPublicPool with PublicMaxConns 0 = %v, %v; want no pool", none, err)
	}
	if (postgres.Lanes{Main: main, Anonymous: lanes.Anonymous}).Reader(stranger) != main {
		t.Error("without a public pool strangers' reads must use the main pool")
	}
}

func TestConfigRequiresURL(t *testing.T) {
	t.Parallel()
	_, err := env.ParseAsWithOptions[postgres.Config](env.Options{Environment: map[string]string{}})
	if err == nil {
		t.Fatal("parse config without DATABASE_URL: got nil error")
	}
}

func TestNewPoolRejectsBadURL(t *testing.T) {
	t.Parallel()
	_, err := postgres.NewPool(t.Context(), postgres.Config{URL: "::not a url::"})
	if err == nil {
		t.Fatal("NewPool with a malformed URL: got nil error")
	}
}

func TestMigrateRejectsUnsafeVersionTable(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "x; DROP TABLE y", "Has-Dash", "a.b.c", `"quoted"`} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The name is checked before the pool is touched, so nil is fine.
			if err := postgres.Migrate(t.Context(), nil, os.DirFS("."), name); err == nil {
				t.Errorf("Migrate(%q): got nil error", name)
			}
		})
	}
}

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.NewPool(t.Context(), postgres.Config{URL: newDatabase(t), MaxConns: 8})
	if err != nil {
		t.Fatalf("new pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func migrations(t *testing.T) fs.FS {
	t.Helper()
	fsys, err := fs.Sub(os.DirFS("testdata"), "migrations")
	if err != nil {
		t.Fatalf("migrations fs: %v", err)
	}
	return fsys
}

func schemaVersion(t *testing.T, pool *pgxpool.Pool) int32 {
	t.Helper()
	var v int32
	if err := pool.QueryRow(t.Context(), "SELECT version FROM widget_schema_version").Scan(&v); err != nil {
		t.Fatalf("read schema version: %v", err)
	}
	return v
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	fsys := migrations(t)
	for i := range 3 {
		if err := postgres.Migrate(t.Context(), pool, fsys, "widget_schema_version"); err != nil {
			t.Fatalf("migrate run %d: %v", i+1, err)
		}
	}
	if got := schemaVersion(t, pool); got != 2 {
		t.Errorf("schema version = %d, want 2", got)
	}
	// Both migrations applied: the column from 002 exists with its default.
	if _, err := pool.Exec(t.Context(), "INSERT INTO widgets (id, name) VALUES (1, 'a')"); err != nil {
		t.Fatalf("insert widget: %v", err)
	}
	var color string
	if err := pool.QueryRow(t.Context(), "SELECT color FROM widgets WHERE id = 1").Scan(&color); err != nil {
		t.Fatalf("read widget: %v", err)
	}
	if color != "red" {
		t.Errorf("color = %q, want %q", color, "red")
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	fsys := migrations(t)
	const runners = 2
	errs := make([]error, runners)
	var wg sync.WaitGroup
	for i := range runners {
		wg.Go(func() {
			errs[i] = postgres.Migrate(t.Context(), pool, fsys, "widget_schema_version")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate runner %d: %v", i, err)
		}
	}
	if got := schemaVersion(t, pool); got != 2 {
		t.Errorf("schema version = %d, want 2", got)
	}
	var rows int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM widget_schema_version").Scan(&rows); err != nil {
		t.Fatalf("count version rows: %v", err)
	}
	if rows != 1 {
		t.Errorf("version table rows = %d, want 1", rows)
	}
}

func TestMigrateSeparateVersionTables(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	fsys := migrations(t)
	if err := postgres.Migrate(t.Context(), pool, fsys, "widget_schema_version"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// A second set tracked in its own table must not be confused with the first.
	other := fstest.MapFS{"001_gadgets.sql": {Data: []byte("CREATE TABLE gadgets (id int PRIMARY KEY);")}}
	if err := postgres.Migrate(t.Context(), pool, other, "gadget_schema_version"); err != nil {
		t.Fatalf("migrate gadgets: %v", err)
	}
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM gadgets").Scan(&n); err != nil {
		t.Fatalf("query gadgets: %v", err)
	}
	if got := schemaVersion(t, pool); got != 2 {
		t.Errorf("widget schema version = %d, want 2", got)
	}
}

func TestMigrateDir(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	// As a package embeds them: the files under a directory.
	fsys := fstest.MapFS{"migrations/001_sprockets.sql": {Data: []byte("CREATE TABLE sprockets (id int PRIMARY KEY);")}}
	for i := range 2 {
		if err := postgres.MigrateDir(t.Context(), pool, fsys, "migrations", "sprocket_schema_version"); err != nil {
			t.Fatalf("migrate dir (run %d): %v", i+1, err)
		}
	}
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM sprockets").Scan(&n); err != nil {
		t.Fatalf("query sprockets: %v", err)
	}
	for _, dir := range []string{"../outside", "migration"} {
		err := postgres.MigrateDir(t.Context(), pool, fsys, dir, "sprocket_schema_version")
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("migrate dir %q: %v, want an error naming it", dir, err)
		}
	}
}

func TestInTx(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	if _, err := pool.Exec(t.Context(), "CREATE TABLE items (id int PRIMARY KEY)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		id        int
		fail      error
		panics    bool
		wantRow   bool
		wantError error
	}{
		{name: "commit", id: 1, wantRow: true},
		{name: "rollback on error", id: 2, fail: errBoom, wantError: errBoom},
		{name: "rollback on panic", id: 3, panics: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var recovered any
			var err error
			func() {
				defer func() { recovered = recover() }()
				err = postgres.InTx(t.Context(), pool, func(tx pgx.Tx) error {
					if _, err := tx.Exec(t.Context(), "INSERT INTO items (id) VALUES ($1)", tc.id); err != nil {
						return err
					}
					if tc.panics {
						panic("handler panicked")
					}
					return tc.fail
				})
			}()
			if tc.panics && recovered == nil {
				t.Error("InTx swallowed the panic")
			}
			if !tc.panics && recovered != nil {
				t.Errorf("unexpected panic: %v", recovered)
			}
			if !errors.Is(err, tc.wantError) {
				t.Errorf("InTx error = %v, want %v", err, tc.wantError)
			}
			var exists bool
			if err := pool.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM items WHERE id = $1)", tc.id).Scan(&exists); err != nil {
				t.Fatalf("query row: %v", err)
			}
			if exists != tc.wantRow {
				t.Errorf("row %d exists = %v, want %v", tc.id, exists, tc.wantRow)
			}
		})
	}
}

func TestInTxReleasesConnection(t *testing.T) {
	t.Parallel()
	dsn := newDatabase(t)
	// One connection: a transaction that leaked it would block the next one.
	pool, err := postgres.NewPool(t.Context(), postgres.Config{URL: dsn, MaxConns: 1})
	if err != nil {
		t.Fatalf("new pool: %v", err)
	}
	t.Cleanup(pool.Close)

	func() {
		defer func() { _ = recover() }()
		_ = postgres.InTx(t.Context(), pool, func(pgx.Tx) error { panic("boom") })
	}()
	_ = postgres.InTx(t.Context(), pool, func(pgx.Tx) error { return errors.New("fail") })

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got int
	err = postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT 42").Scan(&got)
	})
	if err != nil {
		t.Fatalf("InTx after panic and error: %v", err)
	}
	if got != 42 {
		t.Errorf("got %d, want 42", got)
	}
}

// Under a unit of work (WithTx), InTx joins it as a savepoint: a failing
// inner call rolls back its own writes only, and nothing commits until the
// owner of the unit of work commits.
func TestInTxJoinsTheUnitOfWork(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	if _, err := pool.Exec(t.Context(), "CREATE TABLE units (id int PRIMARY KEY)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	insert := func(id int) func(pgx.Tx) error {
		return func(tx pgx.Tx) error {
			_, err := tx.Exec(t.Context(), "INSERT INTO units (id) VALUES ($1)", id)
			return err
		}
	}
	count := func() int {
		var n int
		if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM units").Scan(&n); err != nil {
			t.Fatalf("count: %v", err)
		}
		return n
	}
	errBoom := errors.New("boom")
	err := postgres.InTx(t.Context(), pool, func(outer pgx.Tx) error {
		ctx := postgres.WithTx(t.Context(), outer)
		if got, ok := postgres.TxFrom(ctx); !ok || got != outer {
			t.Error("TxFrom does not return the unit of work")
		}
		if err := postgres.InTx(ctx, pool, insert(1)); err != nil {
			return err
		}
		failed := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := insert(2)(tx); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(failed, errBoom) {
			t.Errorf("inner InTx = %v, want %v", failed, errBoom)
		}
		if n := count(); n != 0 {
			t.Errorf("%d rows visible outside before the unit of work commits, want 0", n)
		}
		return insert(3)(outer)
	})
	if err != nil {
		t.Fatalf("outer InTx: %v", err)
	}
	rows, err := pool.Query(t.Context(), "SELECT id FROM units ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 3}, ids); diff != "" {
		t.Errorf("committed rows (-want +got):\n%s", diff)
	}
	if _, ok := postgres.TxFrom(t.Context()); ok {
		t.Error("TxFrom found a unit of work in a plain context")
	}
}

func TestUnavailableClassifiesDatabaseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"statement timeout", &pgconn.PgError{Code: "57014"}, true},
		{"lock timeout", fmt.Errorf("reserve: %w", &pgconn.PgError{Code: "55P03"}), true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"closed connection", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"check violation", &pgconn.PgError{Code: "23514"}, false},
		{"plain error", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := postgres.Unavailable(tt.err)
			if (got != nil) != tt.want {
				t.Fatalf("Unavailable(%v) = %v; want recognised %t", tt.err, got, tt.want)
			}
			if got == nil {
				return
			}
			e, ok := apperr.From(got)
			if !ok || e.Kind != apperr.KindUnavailable || e.Dependency != "postgres" || !errors.Is(got, tt.err) {
				t.Errorf("Unavailable(%v) = %#v; want UNAVAILABLE naming postgres, wrapping the cause", tt.err, got)
			}
		})
	}
}

// Serving connections carry the statement and lock timeouts; a migration
// runs without them and hands its connection back with them restored.
func TestPoolTimeoutsAndMigrations(t *testing.T) {
	t.Parallel()
	dsn := newDatabase(t)
	pool, err := postgres.NewPool(t.Context(), postgres.Config{URL: dsn, MaxConns: 1, StatementTimeout: 1500 * time.Millisecond, LockTimeout: 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	show := func() (string, string) {
		var st, lt string
		if err := pool.QueryRow(t.Context(), "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')").Scan(&st, &lt); err != nil {
			t.Fatal(err)
		}
		return st, lt
	}
	if st, lt := show(); st != "1500ms" || lt != "700ms" {
		t.Errorf("serving session: statement_timeout %s, lock_timeout %s; want 1500ms, 700ms", st, lt)
	}
	if err := postgres.Migrate(t.Context(), pool, migrations(t), "timeouts_version"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// MaxConns 1: this is the connection the migration used.
	if st, lt := show(); st != "1500ms" || lt != "700ms" {
		t.Errorf("after a migration: statement_timeout %s, lock_timeout %s; want 1500ms, 700ms", st, lt)
	}
	_, err = pool.Exec(t.Context(), "SELECT pg_sleep(3)")
	if postgres.Unavailable(err) == nil {
		t.Errorf("a statement past statement_timeout: %v; want one Unavailable recognises", err)
	}
}
