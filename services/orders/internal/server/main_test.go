package server_test

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

// catalogueCmd is the catalogue command, built from this workspace's
// source; the orders tests run the real catalogue as a subprocess.
const catalogueCmd = "github.com/storefront-go/storefront/services/catalogue/cmd/catalogue"

// Shared by the integration tests; all nil/empty under -short.
var (
	// pg is the Postgres container; every test gets fresh databases on it.
	pg *testenv.Postgres
	// sharedNATS is the NATS container for tests that don't stop NATS.
	sharedNATS *testenv.NATS
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The tests build the catalogue binary on first use; this removes it.
	defer func() {
		if err := testenv.RemoveBinaries(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()

	var err error
	if pg, err = testenv.StartPostgres(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "start postgres: %v\n", err)
		return 1
	}
	defer terminate("postgres", pg.Terminate)
	if sharedNATS, err = testenv.StartNATS(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "start nats: %v\n", err)
		return 1
	}
	defer terminate("nats", sharedNATS.Terminate)
	return m.Run()
}

func terminate(what string, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "terminate %s: %v\n", what, err)
	}
}
