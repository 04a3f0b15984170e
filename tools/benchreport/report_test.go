package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const output = `goos: linux
pkg: github.com/storefront-go/storefront/tools/perf
BenchmarkGetProductCacheHit/catalogue/round-1         	       1	3003622166 ns/op	     14000 calls/s	         0.4698 p50-ms	         1.481 p99-ms
BenchmarkGetProductCacheHit/bare/round-1              	       1	3008562552 ns/op	     28000 calls/s	         0.2398 p50-ms	         0.7745 p99-ms
BenchmarkGetProductCacheHit/catalogue/round-2         	       1	3003309386 ns/op	     15000 calls/s	         0.4614 p50-ms	         1.487 p99-ms
BenchmarkGetProductCacheHit/bare/round-2              	       1	3007698210 ns/op	     20000 calls/s	         0.2346 p50-ms	         0.6701 p99-ms
BenchmarkGetProductCacheHit/catalogue/round-3         	       1	3003496542 ns/op	     10000 calls/s	         0.4858 p50-ms	         1.480 p99-ms
BenchmarkGetProductCacheHit/bare/round-3              	       1	3008052418 ns/op	     25000 calls/s	         0.2484 p50-ms	         0.7129 p99-ms
BenchmarkGetProductOpenLoop/load=0.50                 	       1	3001282997 ns/op	      6799 calls/s	         0 dropped	         0.3972 p50-ms	         4.25 p99-ms
BenchmarkStartup/bare/round-1                         	       1	3057891116 ns/op	        10 rss-MiB	        10 start-ms
BenchmarkStartup/catalogue/round-1                    	       1	4074928362 ns/op	        30 rss-MiB	        50 start-ms
BenchmarkStartup/orders/round-1                       	       1	4074928362 ns/op	        36 rss-MiB	        20 start-ms
PASS
ok  	github.com/storefront-go/storefront/tools/perf	110.1s
`

// search is BenchmarkSearchLatency at two sizes: plain's p50 grows 10x over
// 100x the products (k 0.5), fuzzy's 100x (k 1).
const search = `BenchmarkSearchLatency/products=1000/plain-2     	     200	   1000 ns/op	         1.000 p50-ms	         2.000 p99-ms
BenchmarkSearchLatency/products=1000/fuzzy-2     	     200	   1000 ns/op	         1.000 p50-ms	         2.000 p99-ms
BenchmarkSearchLatency/products=100000/plain-2   	     200	   1000 ns/op	        10.00 p50-ms	        20.00 p99-ms
BenchmarkSearchLatency/products=100000/fuzzy-2   	     200	   1000 ns/op	       100.0 p50-ms	       200.0 p99-ms
`

// chain is a run with GOMAXPROCS=2, whose names all end in -2.
const chain = `BenchmarkUnaryCall/bare-2   	   10000	     50000 ns/op	    5000 B/op	     153 allocs/op
BenchmarkUnaryCall/storefront-chain-2   	   10000	     100000 ns/op	    9000 B/op	     254 allocs/op
BenchmarkStreamEventsAgainstRawCopy-2   	   1	     100 ns/op	    0.6 stream_vs_copy
BenchmarkStreamEventsAgainstRawCopy-2   	   1	     100 ns/op	    0.8 stream_vs_copy
BenchmarkStreamEventsAgainstRawCopy-2   	   1	     100 ns/op	    0.65 stream_vs_copy
`

func parse(t *testing.T) []Sample {
	t.Helper()
	var all []Sample
	for _, run := range []string{output, chain, search} {
		s, err := Parse(strings.NewReader(run))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	return all
}

func TestParseStripsTheProcsSuffixAndReadsEveryMetric(t *testing.T) {
	s := parse(t)
	if len(s) != 19 {
		t.Fatalf("parsed %d lines, want 19", len(s))
	}
	if s[0].Name != "BenchmarkGetProductCacheHit/catalogue/round-1" {
		t.Errorf("line 1 = %q; a name's own -1 was taken for GOMAXPROCS", s[0].Name)
	}
	if s[2].Name != "BenchmarkGetProductCacheHit/catalogue/round-2" || s[2].Metrics["calls/s"] != 15000 {
		t.Errorf("line 3 = %+v", s[2])
	}
	if s[11].Name != "BenchmarkUnaryCall/storefront-chain" || s[11].Metrics["allocs/op"] != 254 || s[11].Metrics["ns/op"] != 100000 {
		t.Errorf("last line = %+v", s[11])
	}
	if _, err := Parse(strings.NewReader("BenchmarkX 1 abc ns/op\n")); err == nil {
		t.Error("a metric that is not a number parsed")
	}
}

func byID(t *testing.T, rows []Row, id string) Row {
	t.Helper()
	for _, r := range rows {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no row %s", id)
	return Row{}
}

func TestRowsPairRoundsAndJudgeGoals(t *testing.T) {
	rows := Rows(parse(t))
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, " "); got != "R1 R1b R2 R3 R4 R5 R6 R7 R8 L1 S1 S2" {
		t.Errorf("row ids = %s", got)
	}
	// Per-round ratios 0.5, 0.75, 0.4: median 0.5, range 0.4–0.75.
	r1 := byID(t, rows, "R1")
	if r1.Ratio == nil || *r1.Ratio != 0.5 || r1.Range[0] != 0.4 || r1.Range[1] != 0.75 || r1.Met == nil || *r1.Met {
		t.Errorf("R1 = %+v, want ratio 0.5 over 0.4–0.75, not met", r1)
	}
	if r2 := byID(t, rows, "R2"); r2.Ratio == nil || *r2.Ratio != 0.5 {
		t.Errorf("R2 = %+v, want 0.5 (bare ns over chain ns)", r2)
	}
	// The worst service is the value: orders' 36 MiB, 3.6x the bare server.
	if r7 := byID(t, rows, "R7"); r7.Value == nil || *r7.Value != 36 || *r7.Ratio != 3.6 || r7.Met == nil || *r7.Met {
		t.Errorf("R7 = %+v, want 36 MiB, 3.6x, not met", r7)
	}
	// catalogue starts in 50 ms, 5x the bare server: under 100 ms but over 3x.
	if r8 := byID(t, rows, "R8"); r8.Value == nil || *r8.Value != 50 || *r8.Ratio != 5 || r8.Met == nil || *r8.Met {
		t.Errorf("R8 = %+v, want 50 ms, 5x, not met", r8)
	}
	if l1 := byID(t, rows, "L1"); l1.Value == nil || *l1.Value != 4.25 || l1.Met == nil || !*l1.Met {
		t.Errorf("L1 = %+v, want 4.25 ms, met", l1)
	}
	// R4's benchmark reports its ratio itself: the median of 0.6, 0.8, 0.65.
	if r4 := byID(t, rows, "R4"); r4.Ratio == nil || *r4.Ratio != 0.65 || r4.Range[1] != 0.8 || r4.Met == nil || *r4.Met {
		t.Errorf("R4 = %+v, want 0.65 over 0.6–0.8, not met", r4)
	}
	// fuzzy grows linearly, so S1 is not met.
	if s1 := byID(t, rows, "S1"); s1.Value == nil || *s1.Value != 1 || s1.Met == nil || *s1.Met {
		t.Errorf("S1 = %+v, want exponent 1, not met", s1)
	}
	// A row whose benchmark did not run says so and judges nothing.
	if r5 := byID(t, rows, "R5"); r5.Ratio != nil || r5.Met != nil || r5.Note == "" {
		t.Errorf("R5 = %+v, want unmeasured", r5)
	}
}

func TestSpliceReplacesOnlyTheGeneratedSection(t *testing.T) {
	doc, err := Splice("# Benchmarks\n\nanalysis\n", "table one\n")
	if err != nil {
		t.Fatal(err)
	}
	doc = strings.Replace(doc, endMarker, endMarker+"\n\nmore analysis", 1)
	again, err := Splice(doc, "table two\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(again, "table one") || !strings.Contains(again, "table two") ||
		!strings.Contains(again, "analysis\n") || !strings.Contains(again, "more analysis") {
		t.Errorf("spliced:\n%s", again)
	}
	if _, err := Splice(endMarker+"\n"+beginMarker, "x"); err == nil {
		t.Error("markers out of order were accepted")
	}
}

func TestRunWritesJSONAndMarkdown(t *testing.T) {
	dir := t.TempDir()
	in, js, md := filepath.Join(dir, "perf.txt"), filepath.Join(dir, "b.json"), filepath.Join(dir, "b.md")
	for name, body := range map[string]string{in: output + search, md: "# Benchmarks\n"} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plots := filepath.Join(dir, "plots")
	if err := run([]string{"-json", js, "-md", md, "-plots", plots, in}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(js)
	if err != nil || !strings.Contains(string(raw), `"id": "R1"`) || !strings.Contains(string(raw), `"nproc"`) {
		t.Errorf("json = %s (%v)", raw, err)
	}
	doc, err := os.ReadFile(md)
	if err != nil || !strings.Contains(string(doc), "| R1 |") || !strings.Contains(string(doc), beginMarker) {
		t.Errorf("markdown = %s (%v)", doc, err)
	}
	for _, f := range []string{"ratios.svg", "l1-getproduct.svg", "s1-search.svg"} {
		svg, err := os.ReadFile(filepath.Join(plots, f))
		if err != nil || !strings.Contains(string(svg), "<svg") {
			t.Errorf("%s: %v, want an SVG", f, err)
		}
		if !strings.Contains(string(doc), "(plots/"+f+")") {
			t.Errorf("markdown does not link plots/%s", f)
		}
	}
	if err := run([]string{"-json", js, "-md", md}); err == nil {
		t.Error("no input files was accepted")
	}
}
