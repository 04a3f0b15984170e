package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	stdnet "net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/testenv"
)

// e2eLabel marks every container and network the suite creates, so
// `make test-e2e` can remove what a killed run left behind.
var e2eLabel = map[string]string{"storefront.e2e": "true"}

const (
	issuer   = "storefront-e2e"
	audience = "storefront"
	grpcPort = "50051/tcp"
	httpPort = "8080/tcp"
)

// service is one running service container and its reachable addresses.
type service struct {
	name string
	ctr  *testcontainers.DockerContainer
	grpc string // host:port
	http string // host:port
	// env is what the container was started with.
	env map[string]string
}

// stack is the whole system under test.
type stack struct {
	signer    *auth.Signer
	catalogue *service
	orders    *service
	analytics *service
	pg        *testcontainers.DockerContainer
	nats      *testcontainers.DockerContainer
	// net is the private network; each service is reachable on it by name.
	net *testcontainers.DockerNetwork
	// pgDSN reaches Postgres from this process as its superuser; dbDSN
	// names one service's database.
	pgDSN string
	otlp  *otlpReceiver
	// compose is the environment compose gives each service.
	compose map[string]map[string]string
	// overrides are what the harness sets on top of compose, per service.
	overrides map[string]map[string]string
	// shopAddr is where the browser scenario serves the shop page, and
	// shopOrigin its origin, which the services' CORS allows.
	shopAddr, shopOrigin string
	// launch starts one more replica of a service on the network, with
	// the environment of the first; the caller removes it.
	launch func(ctx context.Context, name string, extra map[string]string) (*service, error)
}

// replica starts another replica of svc, removed when the test ends.
func (s *stack) replica(t *testing.T, svc *service) *service {
	t.Helper()
	r, err := s.launch(t.Context(), svc.name, s.overrides[svc.name])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { terminate(r.ctr) })
	return r
}

func (s *stack) dbDSN(db string) string {
	return strings.Replace(s.pgDSN, "/storefront?", "/"+db+"?", 1)
}

func (s *stack) services() []*service { return []*service{s.catalogue, s.orders, s.analytics} }

func imageOf(svc string) string {
	if v := os.Getenv("STOREFRONT_" + strings.ToUpper(svc) + "_IMAGE"); v != "" {
		return v
	}
	return "storefront/" + svc + ":dev"
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// harnessEnv is what the harness sets on top of compose's environment for
// every service: its own token issuer (compose's dev key signs nothing
// here), span export to the in-process receiver, and a shorter breaker
// timeout so the catalogue outage scenario fits the suite's time.
func harnessEnv(otlpAddr, corsOrigins string) map[string]string {
	return map[string]string{
		// Compose's origins plus the shop page the browser scenario serves.
		"CORS_ALLOWED_ORIGINS":        corsOrigins,
		"AUTH_ISSUER":                 issuer,
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + otlpAddr,
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_BSP_SCHEDULE_DELAY":     "200",
	}
}

const (
	// breakerOpenTimeout is orders' CATALOGUE_BREAKER_OPEN_TIMEOUT in the suite.
	breakerOpenTimeout = 5 * time.Second
	// drainDelay is orders' SHUTDOWN_DRAIN_DELAY in the suite.
	drainDelay = 2 * time.Second
)

// startStack starts Postgres, NATS and the three service images on one
// private network, each service with the environment compose gives it.
// The returned cleanup removes everything.
func startStack(ctx context.Context, dir string) (*stack, func(), error) {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		// The reaper image can't be pulled on every machine; containers are
		// removed by cleanup instead.
		if err := os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true"); err != nil {
			return nil, nil, err
		}
	}
	var cleanups []func()
	// Once: TestMain may call it both near the timeout and at the end.
	cleanup := sync.OnceFunc(func() {
		for _, cleanup := range slices.Backward(cleanups) {
			cleanup()
		}
	})
	fail := func(err error) (*stack, func(), error) {
		cleanup()
		return nil, nil, err
	}
	compose, err := composeEnv()
	if err != nil {
		return fail(err)
	}

	net, err := network.New(ctx, network.WithLabels(e2eLabel))
	if err != nil {
		return fail(fmt.Errorf("create network: %w", err))
	}
	cleanups = append(cleanups, func() { _ = net.Remove(context.Background()) })

	initSQL, err := filepath.Abs(filepath.Join(composeDir, "postgres-init"))
	if err != nil {
		return fail(err)
	}
	pg, err := testcontainers.Run(ctx, envOr(testenv.PostgresImageEnv, testenv.DefaultPostgresImage),
		testcontainers.WithEnv(map[string]string{"POSTGRES_USER": "storefront", "POSTGRES_PASSWORD": "storefront", "POSTGRES_DB": "storefront"}),
		testcontainers.WithCmd("postgres", "-c", "fsync=off"),
		testcontainers.WithLabels(e2eLabel),
		testcontainers.WithExposedPorts("5432/tcp"),
		// The same roles and databases as compose, from the same script.
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, initSQL+":/docker-entrypoint-initdb.d:ro")
		}),
		network.WithNetwork([]string{"postgres"}, net),
		testcontainers.WithWaitStrategy(wait.ForMappedPort("5432/tcp")),
	)
	cleanups = append(cleanups, func() { terminate(pg) })
	if err != nil {
		return fail(fmt.Errorf("start postgres: %w", err))
	}
	var pgDSN string
	if _, err := testenv.WaitReachable(ctx, pg, "5432/tcp", func(ctx context.Context, hostPort string) error {
		dsn := "postgres://storefront:storefront@" + hostPort + "/storefront?sslmode=disable"
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(context.Background()) }()
		// The init script has run once the last service's role can log in.
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname IN ('catalogue', 'orders', 'analytics')").Scan(&n); err != nil {
			return err
		}
		if n != 3 {
			return fmt.Errorf("%d of 3 service databases created", n)
		}
		pgDSN = dsn
		return nil
	}); err != nil {
		return fail(fmt.Errorf("wait for postgres: %w%s", err, logsOf(ctx, pg)))
	}

	info, err := pg.Inspect(ctx)
	if err != nil {
		return fail(err)
	}
	endpoint, ok := info.NetworkSettings.Networks[net.Name]
	if !ok || !endpoint.Gateway.IsValid() {
		return fail(fmt.Errorf("postgres has no gateway on network %s", net.Name))
	}
	// The receiver listens on the private network's gateway only: the
	// containers reach it there, and nothing outside this machine can.
	otlp, err := startOTLP(ctx, endpoint.Gateway.String())
	if err != nil {
		return fail(err)
	}
	cleanups = append(cleanups, otlp.stop)

	nats, err := testcontainers.Run(ctx, envOr(testenv.NATSImageEnv, testenv.DefaultNATSImage),
		testcontainers.WithCmd("-js", "-sd", "/data", "-m", "8222"),
		testcontainers.WithLabels(e2eLabel),
		testcontainers.WithExposedPorts("4222/tcp"),
		network.WithNetwork([]string{"nats"}, net),
		testcontainers.WithWaitStrategy(wait.ForMappedPort("4222/tcp")),
	)
	cleanups = append(cleanups, func() { terminate(nats) })
	if err != nil {
		return fail(fmt.Errorf("start nats: %w", err))
	}

	signer, err := auth.NewSigner("e2e")
	if err != nil {
		return fail(err)
	}
	jwks, err := signer.JWKS()
	if err != nil {
		return fail(err)
	}
	// Mounted read-only like compose's files; the containers' user must be
	// able to read them.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	jwksPath := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksPath, jwks, 0o644); err != nil {
		return fail(err)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o755); err != nil {
		return fail(err)
	}
	serviceToken, err := signer.Mint(auth.TokenClaims{Subject: "orders", Roles: []string{"service"}, Issuer: issuer, Audience: audience, TTL: time.Hour})
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(tokens, "orders-catalogue.jwt"), []byte(serviceToken), 0o644); err != nil {
		return fail(err)
	}

	// The shop page's origin must be allowed before the services start.
	shopAddr, err := freeLoopbackAddr(ctx)
	if err != nil {
		return fail(err)
	}
	st := &stack{shopAddr: shopAddr, shopOrigin: "http://" + shopAddr, signer: signer, pgDSN: pgDSN, pg: pg, nats: nats, net: net, otlp: otlp, compose: compose, overrides: map[string]map[string]string{}}
	st.launch = func(ctx context.Context, name string, extra map[string]string) (*service, error) {
		env := maps.Clone(compose[name])
		over := harnessEnv(otlp.addr, compose[name]["CORS_ALLOWED_ORIGINS"]+","+st.shopOrigin)
		maps.Copy(over, extra)
		maps.Copy(env, over)
		if extra != nil || st.overrides[name] == nil {
			st.overrides[name] = over
		}
		ctr, err := testcontainers.Run(ctx, imageOf(name),
			testcontainers.WithEnv(env),
			testcontainers.WithLabels(e2eLabel),
			testcontainers.WithExposedPorts(grpcPort, httpPort),
			// As in compose: a read-only root, /tmp in memory, the JWKS and
			// the service tokens mounted.
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.ReadonlyRootfs = true
				hc.Tmpfs = map[string]string{"/tmp": ""}
				hc.Binds = append(hc.Binds, jwksPath+":/etc/storefront/jwks.json:ro", tokens+":/etc/storefront/tokens:ro")
			}),
			// Replicas share the name: clients balance over its addresses.
			network.WithNetwork([]string{name}, net),
			testcontainers.WithWaitStrategy(wait.ForMappedPort(httpPort)),
		)
		if err != nil {
			terminate(ctr)
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		svc := &service{name: name, ctr: ctr, env: env}
		if err := svc.resolve(ctx); err != nil {
			terminate(ctr)
			return nil, err
		}
		return svc, nil
	}
	start := func(name string, extra map[string]string) (*service, error) {
		svc, err := st.launch(ctx, name, extra)
		if err == nil {
			cleanups = append(cleanups, func() { terminate(svc.ctr) })
		}
		return svc, err
	}

	if st.catalogue, err = start("catalogue", nil); err != nil {
		return fail(err)
	}
	// A drain delay, as a load balancer needs, makes NOT_SERVING visible
	// before the listener closes (the graceful stop scenario).
	if st.orders, err = start("orders", map[string]string{"CATALOGUE_BREAKER_OPEN_TIMEOUT": breakerOpenTimeout.String(), "SHUTDOWN_DRAIN_DELAY": drainDelay.String()}); err != nil {
		return fail(err)
	}
	if st.analytics, err = start("analytics", nil); err != nil {
		return fail(err)
	}
	return st, cleanup, nil
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr(ctx context.Context) (string, error) {
	lis, err := (&stdnet.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := lis.Addr().String()
	return addr, lis.Close()
}

// resolve waits until the service is ready and records its mapped ports,
// which change when the container restarts.
func (s *service) resolve(ctx context.Context) error {
	httpHost, err := testenv.WaitReachable(ctx, s.ctr, httpPort, probeReady)
	if err != nil {
		return fmt.Errorf("wait for %s: %w%s", s.name, err, logsOf(ctx, s.ctr))
	}
	grpcMapped, err := s.ctr.MappedPort(ctx, grpcPort)
	if err != nil {
		return err
	}
	host := httpHost[:strings.LastIndex(httpHost, ":")]
	s.http, s.grpc = httpHost, host+":"+grpcMapped.Port()
	return nil
}

func probeReady(ctx context.Context, hostPort string) error {
	return testenv.GetOK(ctx, "http://"+hostPort+"/readyz")
}

func logsOf(ctx context.Context, ctr *testcontainers.DockerContainer) string {
	rc, err := ctr.Logs(ctx)
	if err != nil {
		return ""
	}
	defer func() { _ = rc.Close() }()
	buf := make([]byte, 8192)
	n, _ := rc.Read(buf)
	return "\ncontainer logs:\n" + string(buf[:n])
}

func terminate(ctr *testcontainers.DockerContainer) {
	if ctr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ctr.Terminate(ctx, testcontainers.StopTimeout(5*time.Second)); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "e2e: terminate container:", err)
	}
}

func (s *stack) token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	tok, err := s.signer.Mint(auth.TokenClaims{Subject: sub, Roles: roles, Issuer: issuer, Audience: audience, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
