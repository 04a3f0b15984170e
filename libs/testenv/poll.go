package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond, pausing every between tries, until it holds, failing tb once
// within has passed. what names the condition in the failure.
func Eventually(tb testing.TB, within, every time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after %s waiting for %s", within, what)
		}
		time.Sleep(every)
	}
}
