// Package perf_test holds the benchmarks that measure Storefront's
// services as host processes against physical baselines: a bare grpc-go
// server (tools/perf/bareserver) and raw pgx on the same database. Postgres
// and NATS run in containers, started on the first benchmark that needs
// them. `make bench-perf` runs them, the generator and the servers on
// CPUs of their own; they are skipped with -short and never run without -bench.
package perf_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/storefront-go/storefront/libs/testenv"
)

// infra is the Postgres and NATS the benchmarks share, started once.
var infra struct {
	once sync.Once
	err  error
	pg   *testenv.Postgres
	nats *testenv.NATS
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	stopInfra()
	os.Exit(code)
}

// stopInfra ends the containers deps started and removes the binaries.
func stopInfra() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if infra.nats != nil {
		if err := infra.nats.Terminate(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "terminate nats:", err)
		}
	}
	if infra.pg != nil {
		if err := infra.pg.Terminate(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "terminate postgres:", err)
		}
	}
	if err := testenv.RemoveBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// deps returns the shared Postgres and NATS, starting them on first use,
// and skips b under -short.
func deps(b *testing.B) (*testenv.Postgres, *testenv.NATS) {
	b.Helper()
	if testing.Short() {
		b.Skip("benchmark against real processes; needs Docker")
	}
	infra.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if infra.pg, infra.err = testenv.StartPostgres(ctx); infra.err != nil {
			return
		}
		infra.nats, infra.err = testenv.StartNATS(ctx)
	})
	if infra.err != nil {
		b.Fatalf("start postgres and nats: %v", infra.err)
	}
	return infra.pg, infra.nats
}
