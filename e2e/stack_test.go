package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/testenv"
)

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
}

// stack is the whole system under test.
type stack struct {
	signer    *auth.Signer
	catalogue *service
	orders    *service
	analytics *service
	pgDSN     string
}

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

// startStack starts Postgres, NATS and the three service images on one
// private network. The returned cleanup removes everything.
func startStack(ctx context.Context, dir string) (*stack, func(), error) {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		// The reaper image can't be pulled on every machine; containers are
		// removed by cleanup instead.
		if err := os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true"); err != nil {
			return nil, nil, err
		}
	}
	var cleanups []func()
	cleanup := func() {
		for _, cleanup := range slices.Backward(cleanups) {
			cleanup()
		}
	}
	fail := func(err error) (*stack, func(), error) {
		cleanup()
		return nil, nil, err
	}

	net, err := network.New(ctx)
	if err != nil {
		return fail(fmt.Errorf("create network: %w", err))
	}
	cleanups = append(cleanups, func() { _ = net.Remove(context.Background()) })

	pg, err := testcontainers.Run(ctx, envOr(testenv.PostgresImageEnv, testenv.DefaultPostgresImage),
		testcontainers.WithEnv(map[string]string{"POSTGRES_USER": "storefront", "POSTGRES_PASSWORD": "storefront", "POSTGRES_DB": "storefront"}),
		testcontainers.WithCmd("postgres", "-c", "fsync=off"),
		testcontainers.WithExposedPorts("5432/tcp"),
		network.WithNetwork([]string{"postgres"}, net),
		testcontainers.WithWaitStrategy(wait.ForMappedPort("5432/tcp")),
	)
	cleanups = append(cleanups, func() { terminate(pg) })
	if err != nil {
		return fail(fmt.Errorf("start postgres: %w", err))
	}
	var pgDSN string
	pgHost, err := testenv.WaitReachable(ctx, pg, "5432/tcp", func(ctx context.Context, hostPort string) error {
		dsn := "postgres://storefront:storefront@" + hostPort + "/storefront?sslmode=disable"
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(context.Background()) }()
		for _, db := range []string{"catalogue", "orders", "analytics"} {
			var exists bool
			if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
					return err
				}
			}
		}
		pgDSN = dsn
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("wait for postgres: %w", err))
	}
	_ = pgHost

	nats, err := testcontainers.Run(ctx, envOr(testenv.NATSImageEnv, testenv.DefaultNATSImage),
		testcontainers.WithCmd("-js", "-sd", "/data"),
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
	jwksPath := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksPath, jwks, 0o644); err != nil {
		return fail(err)
	}
	serviceToken, err := signer.Mint(auth.TokenClaims{Subject: "orders", Roles: []string{"service"}, Issuer: issuer, Audience: audience, TTL: time.Hour})
	if err != nil {
		return fail(err)
	}

	common := map[string]string{
		"NATS_URL":         "nats://nats:4222",
		"AUTH_ISSUER":      issuer,
		"AUTH_AUDIENCE":    audience,
		"AUTH_JWKS_FILE":   "/etc/storefront/jwks.json",
		"LOG_LEVEL":        "INFO",
		"MIGRATE_ON_START": "true",
		"GRPC_REFLECTION":  "true",
	}
	start := func(name string, extra map[string]string) (*service, error) {
		env := map[string]string{"DATABASE_URL": "postgres://storefront:storefront@postgres:5432/" + name + "?sslmode=disable"}
		maps.Copy(env, common)
		maps.Copy(env, extra)
		ctr, err := testcontainers.Run(ctx, imageOf(name),
			testcontainers.WithEnv(env),
			testcontainers.WithExposedPorts(grpcPort, httpPort),
			testcontainers.WithFiles(testcontainers.ContainerFile{HostFilePath: jwksPath, ContainerFilePath: "/etc/storefront/jwks.json", FileMode: 0o444}),
			network.WithNetwork([]string{name}, net),
			testcontainers.WithWaitStrategy(wait.ForMappedPort(httpPort)),
		)
		cleanups = append(cleanups, func() { terminate(ctr) })
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		httpHost, err := testenv.WaitReachable(ctx, ctr, httpPort, probeReady)
		if err != nil {
			return nil, fmt.Errorf("wait for %s: %w%s", name, err, logsOf(ctx, ctr))
		}
		grpcMapped, err := ctr.MappedPort(ctx, grpcPort)
		if err != nil {
			return nil, err
		}
		host := httpHost[:strings.LastIndex(httpHost, ":")]
		return &service{name: name, ctr: ctr, http: httpHost, grpc: host + ":" + grpcMapped.Port()}, nil
	}

	st := &stack{signer: signer, pgDSN: pgDSN}
	if st.catalogue, err = start("catalogue", nil); err != nil {
		return fail(err)
	}
	if st.orders, err = start("orders", map[string]string{"CATALOGUE_ADDR": "dns:///catalogue:50051", "CATALOGUE_TOKEN": serviceToken}); err != nil {
		return fail(err)
	}
	if st.analytics, err = start("analytics", nil); err != nil {
		return fail(err)
	}
	return st, cleanup, nil
}

func probeReady(ctx context.Context, hostPort string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostPort+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
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
