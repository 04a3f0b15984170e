package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Sample is one benchmark result line: its name without the -GOMAXPROCS
// suffix, and its metrics by unit.
type Sample struct {
	Name    string
	Metrics map[string]float64
}

// benchLine matches "BenchmarkX/sub-2   <N>   <value unit>...".
var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+(.+)$`)

// procsSuffix is the -GOMAXPROCS go test appends to names when it is not 1.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads the output of one go test -bench run and returns its result
// lines in order; other lines are skipped. go test appends -GOMAXPROCS to
// every name when GOMAXPROCS is not 1, and to none when it is, so a suffix
// is stripped only when every line of the run ends in the same one: a
// name's own "round-1" stays.
func Parse(r io.Reader) ([]Sample, error) {
	out, err := parseLines(r)
	if err != nil {
		return nil, err
	}
	suffix := ""
	for i, s := range out {
		got := procsSuffix.FindString(s.Name)
		if i == 0 {
			suffix = got
		}
		if got != suffix {
			suffix = ""
			break
		}
	}
	if suffix != "" {
		for i := range out {
			out[i].Name = strings.TrimSuffix(out[i].Name, suffix)
		}
	}
	return out, nil
}

func parseLines(r io.Reader) ([]Sample, error) {
	var out []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		fields := strings.Fields(m[3])
		if len(fields)%2 != 0 {
			continue
		}
		s := Sample{Name: m[1], Metrics: map[string]float64{}}
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: metric %q: %w", m[1], fields[i], err)
			}
			s.Metrics[fields[i+1]] = v
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// Row is one row of the report: the table, by id.
type Row struct {
	ID    string   `json:"id"`
	What  string   `json:"what"`
	Ratio *float64 `json:"ratio,omitempty"`
	Value *float64 `json:"value,omitempty"`
	Unit  string   `json:"unit,omitempty"`
	// Range is the lowest and highest of the per-round figures the median
	// (Ratio, or Value when there is no ratio) was taken from.
	Range []float64 `json:"range,omitempty"`
	Goal  string    `json:"goal"`
	// Met is nil when the row has no goal to meet or was not measured.
	Met  *bool  `json:"met"`
	Note string `json:"note,omitempty"`
}

// values returns metric unit of every sample named name, in order.
func values(samples []Sample, name, unit string) []float64 {
	var out []float64
	for _, s := range samples {
		if v, ok := s.Metrics[unit]; ok && s.Name == name {
			out = append(out, v)
		}
	}
	return out
}

// prefixed returns metric unit of every sample whose name starts with
// prefix, in order: the rounds of one side (prefix ".../catalogue/round-").
func prefixed(samples []Sample, prefix, unit string) []float64 {
	var out []float64
	for _, s := range samples {
		if v, ok := s.Metrics[unit]; ok && strings.HasPrefix(s.Name, prefix) {
			out = append(out, v)
		}
	}
	return out
}

// ratios divides a[i] by b[i], round by round, over the rounds both have.
func ratios(a, b []float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, 0, n)
	for i := range n {
		if b[i] != 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// median returns the median of xs and its range; ok is false when xs is
// empty.
func median(xs []float64) (med float64, lo, hi float64, ok bool) {
	if len(xs) == 0 {
		return 0, 0, 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1], true
}

// round3 keeps three significant decimals, so the JSON stays readable.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// ratioRow fills r from the per-round ratios ours/base, met when the
// median reaches atLeast (a goal of 0 means "report it").
func ratioRow(r Row, ours, base []float64, atLeast float64) Row {
	return medianRow(r, ratios(ours, base), atLeast)
}

// medianRow fills r from per-round ratios, as ratioRow does; a benchmark
// that reports its ratio itself comes here directly.
func medianRow(r Row, perRound []float64, atLeast float64) Row {
	med, lo, hi, ok := median(perRound)
	if !ok {
		r.Note = "not measured in this run"
		return r
	}
	r.Ratio, r.Range = new(round3(med)), []float64{round3(lo), round3(hi)}
	if atLeast > 0 {
		r.Met = new(med >= atLeast)
	}
	return r
}

// worstService fills r with the service whose median metric unit is
// highest, as value and as a ratio to the bare server's median.
func worstService(r Row, samples []Sample, unit string) (Row, float64, float64) {
	baseMed, _, _, ok := median(prefixed(samples, "BenchmarkStartup/bare/round-", unit))
	if !ok {
		r.Note = "not measured in this run"
		return r, 0, 0
	}
	var worst, worstLo, worstHi float64
	var parts []string
	for _, svc := range []string{"catalogue", "orders", "analytics"} {
		med, lo, hi, ok := median(prefixed(samples, "BenchmarkStartup/"+svc+"/round-", unit))
		if !ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", svc, med))
		if med > worst {
			worst, worstLo, worstHi = med, lo, hi
		}
	}
	if worst == 0 {
		r.Note = "not measured in this run"
		return r, 0, 0
	}
	r.Value, r.Unit, r.Range = new(round3(worst)), unit, []float64{round3(worstLo), round3(worstHi)}
	r.Ratio = new(round3(worst / baseMed))
	r.Note = fmt.Sprintf("%s; bare server %.1f %s (the highest service is the value)", strings.Join(parts, ", "), baseMed, unit)
	return r, worst, worst / baseMed
}

// Rows computes the report's rows from every sample of the run.
func Rows(samples []Sample) []Row {
	const hit, miss = "BenchmarkGetProductCacheHit/", "BenchmarkGetProductCacheMiss/"
	rows := []Row{
		ratioRow(Row{ID: "R1", What: "GetProduct from the cache, full chain, against a bare grpc-go server (calls/s)", Goal: ">= 0.80"},
			prefixed(samples, hit+"catalogue/round-", "calls/s"), prefixed(samples, hit+"bare/round-", "calls/s"), 0.80),
		ratioRow(Row{ID: "R1b", What: "GetProduct from Postgres against raw pgx QueryRow on a pool of the same size (calls/s)", Goal: ">= 0.80"},
			prefixed(samples, miss+"catalogue/round-", "calls/s"), prefixed(samples, miss+"pgx/round-", "calls/s"), 0.80),
		ratioRow(Row{ID: "R2", What: "interceptor chain on against off (bare ns/op over chain ns/op)", Goal: ">= 0.85"},
			values(samples, "BenchmarkUnaryCall/bare", "ns/op"), values(samples, "BenchmarkUnaryCall/storefront-chain", "ns/op"), 0.85),
		{ID: "R3", What: "PlaceOrder against its parts", Goal: ">= 0.60", Note: "no benchmark yet"},
		medianRow(Row{ID: "R4", What: "StreamEvents ingest against raw CopyFrom (events/s)", Goal: ">= 0.70"},
			values(samples, "BenchmarkStreamEventsAgainstRawCopy", "stream_vs_copy"), 0.70),
		ratioRow(Row{ID: "R5", What: "outbox relay against raw JetStream publish, PubAck awaited (events/s)", Goal: ">= 0.50"},
			prefixed(samples, "BenchmarkRelayAgainstRawPublish/relay/round-", "events/s"), prefixed(samples, "BenchmarkRelayAgainstRawPublish/raw-publish/round-", "events/s"), 0.50),
		ratioRow(Row{ID: "R6", What: "gRPC GetProduct against the same handler over net/http + JSON (json ns/op over grpc ns/op: how many times faster gRPC is)", Goal: "report it"},
			values(samples, "BenchmarkGRPCAgainstJSON/json", "ns/op"), values(samples, "BenchmarkGRPCAgainstJSON/grpc", "ns/op"), 0),
	}
	r7, rss, _ := worstService(Row{ID: "R7", What: "idle RSS per service after start, against a bare grpc-go server", Goal: "<= 20 MiB, and the ratio"}, samples, "rss-MiB")
	if rss > 0 {
		r7.Met = new(rss <= 20)
	}
	r8, start, ratio := worstService(Row{ID: "R8", What: "exec to SERVING with Postgres and NATS up, against a bare grpc-go server", Goal: "<= 3x and <= 100 ms"}, samples, "start-ms")
	if start > 0 {
		r8.Met = new(start <= 100 && ratio <= 3)
	}
	l1 := Row{ID: "L1", What: "GetProduct p99 at half of its measured maximum throughput, open loop", Goal: "< 5 ms", Unit: "ms"}
	if p99 := values(samples, "BenchmarkGetProductOpenLoop/load=0.50", "p99-ms"); len(p99) > 0 {
		med, lo, hi, _ := median(p99)
		l1.Value, l1.Range, l1.Met = new(round3(med)), []float64{round3(lo), round3(hi)}, new(med < 5)
	} else {
		l1.Note = "not measured in this run"
	}
	rows = append(rows, r7, r8, l1,
		searchRow(samples),
		Row{ID: "S2", What: "ListProducts streaming 1M products, peak RSS growth", Goal: "<= 16 MiB", Note: "measured at 100k by a test; not at 1M yet"},
	)
	return rows
}

// Markdown renders rows as the report's table.
func Markdown(rows []Row) string {
	var b strings.Builder
	b.WriteString("| # | what | ratio | value | range | goal | met | note |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		ratio, value, rng, met := "—", "—", "—", "—"
		if r.Ratio != nil {
			ratio = strconv.FormatFloat(*r.Ratio, 'f', 2, 64)
		}
		if r.Value != nil {
			value = strconv.FormatFloat(*r.Value, 'f', 1, 64) + " " + r.Unit
		}
		if len(r.Range) == 2 {
			rng = fmt.Sprintf("%.2f–%.2f", r.Range[0], r.Range[1])
		}
		if r.Met != nil {
			met = map[bool]string{true: "yes", false: "no"}[*r.Met]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.ID, r.What, ratio, value, rng, r.Goal, met, r.Note)
	}
	return b.String()
}

// Markers bound the generated part of docs/benchmarks.md.
const (
	beginMarker = "<!-- benchreport:begin -->"
	endMarker   = "<!-- benchreport:end -->"
)

// Splice replaces what lies between the markers in doc with section, or
// appends the markers and section when doc has none.
func Splice(doc, section string) (string, error) {
	block := beginMarker + "\n" + section + endMarker
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	switch {
	case i < 0 && j < 0:
		return strings.TrimRight(doc, "\n") + "\n\n" + block + "\n", nil
	case i < 0 || j < i:
		return "", fmt.Errorf("markers %q and %q out of order", beginMarker, endMarker)
	}
	return doc[:i] + block + doc[j+len(endMarker):], nil
}

// SearchPoint is one shape's latency at one catalogue size.
type SearchPoint struct {
	Shape    string
	Products int
	P50, P99 float64
}

// SearchPoints reads BenchmarkSearchLatency/products=<n>/<shape>, sorted by
// shape and size.
func SearchPoints(samples []Sample) []SearchPoint {
	var out []SearchPoint
	for _, s := range samples {
		rest, ok := strings.CutPrefix(s.Name, "BenchmarkSearchLatency/products=")
		if !ok {
			continue
		}
		size, shape, ok := strings.Cut(rest, "/")
		n, err := strconv.Atoi(size)
		if !ok || err != nil {
			continue
		}
		out = append(out, SearchPoint{Shape: shape, Products: n, P50: s.Metrics["p50-ms"], P99: s.Metrics["p99-ms"]})
	}
	slices.SortFunc(out, func(a, b SearchPoint) int {
		if c := strings.Compare(a.Shape, b.Shape); c != 0 {
			return c
		}
		return a.Products - b.Products
	})
	return out
}

// searchRow is S1: for each shape, how p50 grows with the catalogue, as the
// exponent k in p50 ∝ products^k between the smallest and largest size
// (k < 1 is sublinear). The value is the largest k of any shape.
func searchRow(samples []Sample) Row {
	r := Row{ID: "S1", What: "SearchProducts p50/p99 as the catalogue grows: growth exponent k of p50 (p50 ∝ products^k), the largest of the shapes", Goal: "sublinear growth (k < 1)"}
	byShape := map[string][]SearchPoint{}
	var shapes []string
	for _, p := range SearchPoints(samples) {
		if _, ok := byShape[p.Shape]; !ok {
			shapes = append(shapes, p.Shape)
		}
		byShape[p.Shape] = append(byShape[p.Shape], p)
	}
	worst, found := 0.0, false
	var parts []string
	for _, shape := range shapes {
		pts := byShape[shape]
		lo, hi := pts[0], pts[len(pts)-1]
		if hi.Products == lo.Products || lo.P50 <= 0 || hi.P50 <= 0 {
			continue
		}
		k := math.Log(hi.P50/lo.P50) / math.Log(float64(hi.Products)/float64(lo.Products))
		parts = append(parts, fmt.Sprintf("%s %.2f (p99 %.1f ms at %d)", shape, k, hi.P99, hi.Products))
		if !found || k > worst {
			worst, found = k, true
		}
	}
	if !found {
		r.Note = "not measured in this run"
		return r
	}
	r.Value, r.Unit, r.Met = new(round3(worst)), "exponent", new(worst < 1)
	r.Note = strings.Join(parts, "; ")
	return r
}
