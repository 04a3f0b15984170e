package server_test

import (
	"os"
	"testing"

	"github.com/storefront-go/storefront/libs/testenv"
)

// pg is the Postgres container shared by the integration tests; each test
// gets its own database on it. It stays nil under -short.
var pg *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithPostgres(m, func(p *testenv.Postgres) { pg = p }))
}
