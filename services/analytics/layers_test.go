package analytics_test

import (
	"testing"

	"github.com/storefront-go/storefront/libs/layers"
)

// The layer rules of libs/layers hold in this service, and none of its
// packages depends, even indirectly, on another service's code.
func TestLayersAndServiceBoundaries(t *testing.T) {
	t.Parallel()
	layers.Check(t, ".")
}
