package e2e

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// row is one line of the suite's summary: a scenario, what it measured,
// and the bound the scenario asserts.
type row struct {
	scenario, figure, bound string
}

var summary struct {
	mu   sync.Mutex
	rows []row
}

// reportf adds a line to the summary printed at the end of the suite.
func reportf(scenario, bound, format string, args ...any) {
	summary.mu.Lock()
	defer summary.mu.Unlock()
	summary.rows = append(summary.rows, row{scenario: scenario, figure: fmt.Sprintf(format, args...), bound: bound})
}

// writeSummary prints the summary table and, when go test was given an
// -outputdir, writes it to e2e/report.md there.
func writeSummary(w io.Writer) error {
	summary.mu.Lock()
	defer summary.mu.Unlock()
	if len(summary.rows) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("| scenario | figure | bound |\n|---|---|---|\n")
	for _, r := range summary.rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.scenario, r.figure, r.bound)
	}
	if _, err := fmt.Fprint(w, "\ne2e summary\n", b.String()); err != nil {
		return err
	}
	dir := ""
	if f := flag.Lookup("test.outputdir"); f != nil {
		dir = f.Value.String()
	}
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, "e2e", "report.md")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w, "e2e summary written to", path); err != nil {
		return err
	}
	return os.WriteFile(path, []byte("# End-to-end suite\n\n"+b.String()), 0o644)
}
