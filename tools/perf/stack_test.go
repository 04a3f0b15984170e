package perf_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/storefront-go/storefront/libs/testenv"
	"github.com/storefront-go/storefront/tools/internal/load"
)

const (
	catalogueCmd  = "github.com/storefront-go/storefront/services/catalogue/cmd/catalogue"
	ordersCmd     = "github.com/storefront-go/storefront/services/orders/cmd/orders"
	analyticsCmd  = "github.com/storefront-go/storefront/services/analytics/cmd/analytics"
	bareserverCmd = "github.com/storefront-go/storefront/tools/perf/bareserver"

	issuer   = "https://auth.perf.test"
	audience = "storefront"

	// concurrency is the closed loop's callers, over one connection.
	concurrency = 8
	// batchCalls bounds one closed-loop batch in calls; batchTime (or
	// PERF_BATCH_TIME) bounds it in time.
	batchCalls = 500_000
	batchTime  = 3 * time.Second
	// callTimeout bounds every call the generator makes.
	callTimeout = 2 * time.Second
	// warmUp is how long each side is loaded, unreported, before the rounds.
	warmUp = time.Second
)

// rounds is how many times each side of an A/B pair runs (PERF_ROUNDS,
// default 3), alternating.
func rounds(b *testing.B) int {
	b.Helper()
	return envInt(b, "PERF_ROUNDS", 3)
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// batchDuration is one batch's time bound: PERF_BATCH_TIME or batchTime.
func batchDuration(b *testing.B) time.Duration {
	b.Helper()
	v := os.Getenv("PERF_BATCH_TIME")
	if v == "" {
		return batchTime
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("PERF_BATCH_TIME=%q: want a positive duration", v)
	}
	return d
}

// pinned returns the command to run bin as a server under load, and the
// environment it adds. With PERF_SERVER_CPU set (make bench-perf sets it to 1
// and runs the generator on CPU 0), the server runs on that CPU alone with
// GOMAXPROCS=1, so the server and the load generator each have a core;
// otherwise bin itself, sharing every core with the generator.
func pinned(b *testing.B, bin string) (string, map[string]string) {
	b.Helper()
	cpu := os.Getenv("PERF_SERVER_CPU")
	if cpu == "" {
		return bin, nil
	}
	if _, err := strconv.Atoi(cpu); err != nil {
		b.Fatalf("PERF_SERVER_CPU=%q: want a CPU number", cpu)
	}
	script := filepath.Join(b.TempDir(), filepath.Base(bin)+"-pinned")
	body := fmt.Sprintf("#!/bin/sh\nexec /usr/bin/taskset -c %s %q\n", cpu, bin)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		b.Fatalf("write %s: %v", script, err)
	}
	return script, map[string]string{"GOMAXPROCS": "1"}
}

// dial opens one client connection to addr.
func dial(b *testing.B, addr string) *grpc.ClientConn {
	b.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatalf("dial %s: %v", addr, err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

// serving reports whether addr's gRPC health check answers SERVING, over a
// fresh connection that fails at once when nothing listens yet.
func serving(ctx context.Context, addr string) bool {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return false
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

// rssMiB reads the resident set of process pid from /proc, in MiB.
func rssMiB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", rest, err)
		}
		return kb / 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// closedBatch runs one closed-loop batch of call and reports its
// throughput and latency; any failed call fails b.
func closedBatch(b *testing.B, call load.Call) load.Result {
	b.Helper()
	var res load.Result
	for range b.N {
		res = load.Closed(b.Context(), concurrency, batchCalls, batchDuration(b), callTimeout, call)
		if err := res.Err(); err != nil {
			b.Fatal(err)
		}
	}
	reportLatency(b, res)
	return res
}

// reportLatency reports a batch's throughput and its p50 and p99.
func reportLatency(b *testing.B, res load.Result) {
	b.Helper()
	b.ReportMetric(res.Throughput(), "calls/s")
	b.ReportMetric(ms(res.Percentile(50)), "p50-ms")
	b.ReportMetric(ms(res.Percentile(99)), "p99-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// warm loads call, unreported, for warmUp.
func warm(b *testing.B, call load.Call) {
	b.Helper()
	if err := load.Closed(b.Context(), concurrency, batchCalls, warmUp, callTimeout, call).Err(); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
}

// startAndTime starts p and returns the time from exec to its gRPC health
// answering SERVING, polled every millisecond.
func startAndTime(b *testing.B, p *testenv.Process) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	first := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		for ctx.Err() == nil {
			if serving(ctx, p.GRPCAddr()) {
				first <- time.Since(start)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	p.Start() // returns once /readyz answers
	select {
	case d := <-first:
		return d
	case <-ctx.Done():
		b.Fatalf("%s never answered SERVING", p.GRPCAddr())
		return 0
	}
}
