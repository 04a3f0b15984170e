package testenv

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// failureLogLines is how much of a replica's or process's output a failed
// test reports.
const failureLogLines = 200

// LogBuffer collects output written from many goroutines: a replica's
// logs, or a subprocess's stdout and stderr.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines written, marked as a tail when there were
// more.
func (b *LogBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("... (last %d lines)\n", n) + strings.Join(lines[len(lines)-n:], "\n")
}
