package telemetry

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterOrExisting(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "shared_total", Help: "h"}
	first, err := RegisterOrExisting(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	second, err := RegisterOrExisting(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("second registration did not return the existing collector")
	}
	// Same name, different help: a real conflict.
	if _, err := RegisterOrExisting(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "shared_total", Help: "other"})); err == nil {
		t.Error("conflicting registration succeeded")
	}
}
