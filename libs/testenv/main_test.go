package testenv_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/storefront-go/storefront/libs/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := testenv.RemoveBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
