package postgres_test

import (
	"os"
	"testing"

	"github.com/storefront-go/storefront/libs/testenv"
)

// pg is the container shared by this package's integration tests; it stays
// nil under -short.
var pg *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithPostgres(m, func(p *testenv.Postgres) { pg = p }))
}

// newDatabase returns a DSN for a fresh database, skipping under -short.
func newDatabase(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	return pg.NewDatabase(t)
}
