package outbox_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/storefront-go/storefront/libs/testenv"
)

// Containers shared by this package's integration tests; nil under -short.
var (
	pg         *testenv.Postgres
	natsServer *testenv.NATS
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var err error
	pg, err = testenv.StartPostgres(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "start postgres: %v\n", err)
		return 1
	}
	defer terminate("postgres", pg.Terminate)
	natsServer, err = testenv.StartNATS(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "start nats: %v\n", err)
		return 1
	}
	defer terminate("nats", natsServer.Terminate)
	return m.Run()
}

func terminate(what string, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "terminate %s: %v\n", what, err)
	}
}
