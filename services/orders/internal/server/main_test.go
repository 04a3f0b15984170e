package server_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	// catalogueBin is the built catalogue binary, or empty with
	// catalogueBuildErr saying why.
	catalogueBin      string
	catalogueBuildErr error
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

	dir, err := os.MkdirTemp("", "orders-test-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "temp dir: %v\n", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	catalogueBin, catalogueBuildErr = buildCatalogue(ctx, dir)

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

// buildCatalogue builds the catalogue binary into dir. The go command finds
// go.work above the package directory, so the workspace's catalogue and
// libs are what gets built.
func buildCatalogue(ctx context.Context, dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go command: %w", err)
	}
	bin := filepath.Join(dir, "catalogue")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, catalogueCmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", catalogueCmd, err, out)
	}
	return bin, nil
}

func terminate(what string, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "terminate %s: %v\n", what, err)
	}
}
