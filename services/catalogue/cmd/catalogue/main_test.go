package main

import (
	"testing"
)

func TestDispatchRejectsUnknownCommands(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"migrate", "extra"}} {
		if err := dispatch(t.Context(), args); err == nil {
			t.Errorf("dispatch(%q): got nil error", args)
		}
	}
}
