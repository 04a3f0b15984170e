package postgres_test

import (
	"os"
	"testing"

	"github.com/storefront-go/storefront/libs/testenv"
)

// pg is the Postgres container of this package's integration tests; nil
// under -short.
var pg *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithPostgres(m, func(p *testenv.Postgres) { pg = p }))
}
