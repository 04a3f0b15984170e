package perf_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/storefront-go/storefront/libs/testenv"
)

// idle is how long a started process rests before its RSS is read.
const idle = 3 * time.Second

// BenchmarkStartup measures R7 and R8: for each service and for the bare
// grpc-go server, the time from exec to its health check answering
// SERVING (start-ms) with Postgres and NATS up, and its resident memory
// after idle at rest (rss-MiB). Each round starts every binary once, in
// turn (bare, catalogue, orders, analytics), as a sub-benchmark
// <binary>/round-<k>. A warm-up start of each, unreported, applies the
// migrations and creates the streams first, so every round is a restart
// of a deployed service, as a rollout or a crash recovery is.
func BenchmarkStartup(b *testing.B) {
	pg, nats := deps(b)
	auth := testenv.NewAuth(b, issuer, audience)
	tokenFile := filepath.Join(b.TempDir(), "catalogue-token")
	if err := os.WriteFile(tokenFile, []byte(auth.Token("orders", "service")), 0o600); err != nil {
		b.Fatal(err)
	}
	// The catalogue orders calls; it runs throughout, outside the rounds.
	peer := testenv.NewProcess(b, "catalogue-peer", testenv.BuildBinary(b, catalogueCmd),
		testenv.ReplicaEnv(pg.NewDatabase(b), nats.URL(), auth))

	type target struct {
		name string
		bin  string
		env  map[string]string
	}
	// Orders first: it creates the ORDERS stream catalogue consumes.
	targets := []target{
		{name: "bare", bin: testenv.BuildBinary(b, bareserverCmd), env: map[string]string{}},
		{name: "orders", bin: testenv.BuildBinary(b, ordersCmd), env: testenv.ReplicaEnv(pg.NewDatabase(b), nats.URL(), auth, map[string]string{
			"CATALOGUE_ADDR":       "passthrough:///" + peer.GRPCAddr(),
			"CATALOGUE_TOKEN_FILE": tokenFile,
		})},
		{name: "catalogue", bin: testenv.BuildBinary(b, catalogueCmd), env: testenv.ReplicaEnv(pg.NewDatabase(b), nats.URL(), auth)},
		{name: "analytics", bin: testenv.BuildBinary(b, analyticsCmd), env: testenv.ReplicaEnv(pg.NewDatabase(b), nats.URL(), auth)},
	}
	for _, tg := range targets {
		p := testenv.NewProcess(b, tg.name+"-warm-up", tg.bin, tg.env)
		p.Start()
		if err := p.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	peer.Start()

	for k := 1; k <= rounds(b); k++ {
		for _, tg := range targets {
			b.Run(fmt.Sprintf("%s/round-%d", tg.name, k), func(b *testing.B) {
				var start time.Duration
				var rss float64
				for range b.N {
					p := testenv.NewProcess(b, tg.name, tg.bin, tg.env)
					start = startAndTime(b, p)
					time.Sleep(idle)
					var err error
					if rss, err = rssMiB(p.PID()); err != nil {
						b.Fatal(err)
					}
					if err := p.Stop(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(ms(start), "start-ms")
				b.ReportMetric(rss, "rss-MiB")
			})
		}
	}
}
