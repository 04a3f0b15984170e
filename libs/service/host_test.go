package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/outbox"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/libs/testenv"
)

// waitFor bounds every wait for something asynchronous; it only prevents
// hangs and is never asserted on.
const waitFor = 30 * time.Second

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithPostgres(m, func(p *testenv.Postgres) { pg = p }))
}

// hostConfig is a service configuration with nothing of its own.
type hostConfig struct{ service.Config }

// startHost builds a host for spec against a fresh database and natsURL and
// runs it until the test ends (or Stop is called).
func startHost(t *testing.T, spec service.Spec[hostConfig], natsURL string, vars map[string]string) *testenv.Replica[*service.Host] {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	a := testenv.NewAuth(t, "host-test", "host-test")
	cfg := testenv.LoadConfig[hostConfig](t, testenv.ReplicaEnv(pg.NewDatabase(t), natsURL, a, vars))
	return testenv.StartReplica(t, spec.Name, func(ctx context.Context, logger *slog.Logger) (*service.Host, error) {
		return service.New(ctx, spec, cfg, logger)
	})
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// A stream that can't be created at start (here another stream owns its
// subjects) does not stop the replica: it serves, and the host keeps trying
// until the stream exists.
func TestStreamThatCannotBeCreatedYetIsRetriedWhileServing(t *testing.T) {
	t.Parallel()
	srv := testenv.EmbeddedNATS(t)
	js := jetStream(t, srv.URL())
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "BLOCKER", Subjects: []string{"hosttest.>"}}); err != nil {
		t.Fatalf("create blocking stream: %v", err)
	}
	r := startHost(t, service.Spec[hostConfig]{
		Name:    "hosttest",
		Streams: []service.Stream{{Name: "HOSTTEST", Subjects: []string{"hosttest.>"}}},
	}, srv.URL(), nil)

	eventually(t, "readiness", func() bool {
		code, _ := get(t, "http://"+r.Host().HTTPAddr()+"/readyz")
		return code == http.StatusOK
	})
	select {
	case <-r.Host().StreamsReady():
		t.Fatal("streams reported ready while another stream owns their subjects")
	default:
	}
	if !strings.Contains(r.Logs().String(), "provision stream") {
		t.Errorf("no warning about the stream in the logs:\n%s", r.Logs().String())
	}

	if err := js.DeleteStream(t.Context(), "BLOCKER"); err != nil {
		t.Fatalf("delete blocking stream: %v", err)
	}
	select {
	case <-r.Host().StreamsReady():
	case <-time.After(waitFor):
		t.Fatal("the host did not create its stream once it could")
	}
	if _, err := js.Stream(t.Context(), "HOSTTEST"); err != nil {
		t.Errorf("stream HOSTTEST after provisioning: %v", err)
	}
	if err := r.Stop(); err != nil {
		t.Errorf("run: %v", err)
	}
}

// An event bound for a stream the service provisions but cannot create
// yet waits in the outbox, however many attempts that costs, and is
// published once the stream exists: it is never parked.
func TestEventsWaitForTheirStreamInsteadOfBeingParked(t *testing.T) {
	t.Parallel()
	srv := testenv.EmbeddedNATS(t)
	js := jetStream(t, srv.URL())
	// A stream of the same name that can't be updated into the service's
	// (its storage differs) and doesn't cover the service's subjects.
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "WAITTEST", Subjects: []string{"elsewhere.>"}, Storage: jetstream.MemoryStorage,
	}); err != nil {
		t.Fatalf("create blocking stream: %v", err)
	}
	const maxAttempts = 2
	r := startHost(t, service.Spec[hostConfig]{
		Name:    "waittest",
		Streams: []service.Stream{{Name: "WAITTEST", Subjects: []string{"waittest.>"}}},
	}, srv.URL(), map[string]string{
		"OUTBOX_MAX_ATTEMPTS":  strconv.Itoa(maxAttempts),
		"OUTBOX_POLL_INTERVAL": "20ms",
		"OUTBOX_MAX_BACKOFF":   "100ms",
	})
	pool := r.Host().Pool()
	if err := libpg.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		_, err := outbox.Enqueue(t.Context(), tx, "waittest.thing.happened", wrapperspb.String("waits for its stream"))
		return err
	}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	count := func(query string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(t.Context(), query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	eventually(t, "attempts well past MaxAttempts", func() bool {
		return count(`SELECT COALESCE(max(attempts), 0) FROM outbox_events`) >= maxAttempts+2 ||
			count(`SELECT count(*) FROM outbox_events WHERE dead_at IS NOT NULL`) > 0
	})
	if got := count(`SELECT count(*) FROM outbox_events WHERE dead_at IS NOT NULL`); got != 0 {
		t.Fatalf("parked rows = %d, want 0: the service provisions a stream for the subject", got)
	}

	if err := js.DeleteStream(t.Context(), "WAITTEST"); err != nil {
		t.Fatalf("delete blocking stream: %v", err)
	}
	eventually(t, "the event published once its stream exists", func() bool {
		return count(`SELECT count(*) FROM outbox_events WHERE published_at IS NOT NULL`) == 1
	})
	stream, err := js.Stream(t.Context(), "WAITTEST")
	if err != nil {
		t.Fatalf("stream WAITTEST: %v", err)
	}
	if info := stream.CachedInfo(); info.State.Msgs != 1 || info.Config.Storage != jetstream.FileStorage {
		t.Errorf("stream WAITTEST holds %d messages in %v storage, want 1 in file storage", info.State.Msgs, info.Config.Storage)
	}
	if err := r.Stop(); err != nil {
		t.Errorf("run: %v", err)
	}
}

// Stream settings the server would refuse stop the start, naming the
// variables, before anything is acquired.
func TestNewRejectsStreamSettingsTheServerWouldRefuse(t *testing.T) {
	t.Parallel()
	cfg := hostConfig{Config: service.Config{NATS: broker.Config{
		URL: "nats://127.0.0.1:1", DuplicateWindow: 2 * time.Hour, MaxAge: time.Hour,
	}}}
	_, err := service.New(t.Context(), service.Spec[hostConfig]{Name: "badstreams"}, cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "NATS_DUPLICATE_WINDOW") || !strings.Contains(err.Error(), "NATS_STREAM_MAX_AGE") {
		t.Errorf("New = %v; want an error naming NATS_DUPLICATE_WINDOW and NATS_STREAM_MAX_AGE", err)
	}
}

// The build is exported as a metric on the admin port.
func TestBuildInfoMetric(t *testing.T) {
	t.Parallel()
	r := startHost(t, service.Spec[hostConfig]{Name: "buildtest"}, testenv.EmbeddedNATS(t).URL(), nil)
	select {
	case <-r.Host().StreamsReady():
	case <-time.After(waitFor):
		t.Fatal("a service without streams is never ready for them")
	}
	var body string
	eventually(t, "metrics", func() bool {
		var code int
		code, body = get(t, "http://"+r.Host().AdminAddr()+"/metrics")
		return code == http.StatusOK
	})
	b := service.BuildInfo()
	want := service.BuildInfoMetric + `{build_time="` + b.BuildTime + `",commit="` + b.Commit
	if !strings.Contains(body, want) || !strings.Contains(body, `service="buildtest"`) {
		t.Errorf("metrics lack %s...service=\"buildtest\"", want)
	}
}

// An outbox that cannot be flushed at shutdown (NATS is gone) is logged,
// not returned: its events wait in the outbox for the next start.
func TestOutboxFlushFailureAtShutdownIsLoggedNotReturned(t *testing.T) {
	t.Parallel()
	srv := testenv.EmbeddedNATS(t)
	r := startHost(t, service.Spec[hostConfig]{
		Name:    "flushtest",
		Streams: []service.Stream{{Name: "FLUSHTEST", Subjects: []string{"flushtest.>"}}},
	}, srv.URL(), map[string]string{"OUTBOX_PUBLISH_TIMEOUT": "200ms", "OUTBOX_POLL_INTERVAL": "1h"})
	<-r.Host().StreamsReady()
	srv.Shutdown()

	pool := r.Host().Pool()
	if err := libpg.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		_, err := outbox.Enqueue(t.Context(), tx, "flushtest.thing.happened", wrapperspb.String("pending at shutdown"))
		return err
	}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	dsn := pool.Config().ConnString()
	if err := r.Stop(); err != nil {
		t.Errorf("run = %v; want nil: an unflushed outbox is not a failed shutdown", err)
	}
	if !strings.Contains(r.Logs().String(), "flush outbox at shutdown") {
		t.Errorf("no warning about the flush in the logs:\n%s", r.Logs().String())
	}
	check, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var pending int
	if err := check.QueryRow(t.Context(), `SELECT count(*) FROM outbox_events WHERE published_at IS NULL`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 1 {
		t.Errorf("pending outbox rows after shutdown = %d, want 1", pending)
	}
}

// A worker that fails shuts the replica down, and Run returns its error.
func TestFailingWorkerStopsTheReplica(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := startHost(t, service.Spec[hostConfig]{
		Name: "workertest",
		Wire: func(_ context.Context, h *service.Host, _ hostConfig) error {
			h.Go("doomed", func(context.Context) error { return boom })
			return nil
		},
	}, testenv.EmbeddedNATS(t).URL(), nil)
	select {
	case <-r.Done():
		err := r.Stop() // Run's error, now that it has returned
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "doomed") {
			t.Errorf("run = %v; want the worker's error, named", err)
		}
	case <-time.After(waitFor):
		t.Fatal("the replica kept serving after its worker failed")
	}
}
