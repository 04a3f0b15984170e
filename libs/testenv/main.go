package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

// MainWithPostgres is the body of a TestMain whose package shares one Postgres
// container: under -short it only runs the tests; otherwise it starts the
// container, hands it to use, runs the tests and terminates it. Either way
// it removes what BuildBinary built. It returns the exit code for os.Exit.
func MainWithPostgres(m *testing.M, use func(*Postgres)) int {
	defer removeBinaries()
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := StartPostgres(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: start postgres: %v\n", err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Terminate(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: terminate postgres: %v\n", err)
		}
	}()
	use(p)
	return m.Run()
}

// removeBinaries is RemoveBinaries for a TestMain, which reports rather
// than returns.
func removeBinaries() {
	if err := RemoveBinaries(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
	}
}
