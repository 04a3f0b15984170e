package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

const (
	postgresUser     = "storefront"
	postgresPassword = "storefront"
	postgresDB       = "storefront"
	postgresPort     = "5432/tcp"

	// readyTimeout bounds how long a container may take to accept clients.
	readyTimeout = 60 * time.Second
	// readyPoll is the pause between readiness probes.
	readyPoll = 250 * time.Millisecond
	// stopTimeout bounds a container's graceful stop before it is killed.
	stopTimeout = 5 * time.Second
	// cleanupTimeout bounds work done in t.Cleanup.
	cleanupTimeout = 30 * time.Second
)

// Postgres is a running Postgres container.
type Postgres struct {
	container *testcontainers.DockerContainer
	hostPort  string
}

// StartPostgres starts a Postgres container from $STOREFRONT_POSTGRES_IMAGE
// (default postgres:17-alpine) and returns once a client can connect over
// the mapped port.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	if err := disableRyuk(); err != nil {
		return nil, err
	}
	image := imageFromEnv(PostgresImageEnv, DefaultPostgresImage)
	ctr, err := testcontainers.Run(ctx, image,
		testcontainers.WithEnv(map[string]string{
			"POSTGRES_USER":     postgresUser,
			"POSTGRES_PASSWORD": postgresPassword,
			"POSTGRES_DB":       postgresDB,
		}),
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "max_connections=300"),
		testcontainers.WithExposedPorts(postgresPort),
		// Only the mapping is awaited here: the image may have no shell for
		// the internal check, and readiness is probed with a real client below.
		testcontainers.WithWaitStrategy(wait.ForMappedPort(postgresPort)),
	)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start postgres container %s: %w", image, err), terminate(ctr))
	}
	hostPort, err := WaitReachable(ctx, ctr, postgresPort, func(ctx context.Context, hostPort string) error {
		return pingPostgres(ctx, (&Postgres{hostPort: hostPort}).AdminDSN())
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("wait for postgres: %w", err), terminate(ctr))
	}
	p := &Postgres{container: ctr, hostPort: hostPort}
	return p, nil
}

// pingPostgres connects and runs a query. Entry points may restart the
// server after initialising it, so an open port alone is not readiness.
func pingPostgres(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}

// AdminDSN returns the DSN of the container's default database, which owns
// the databases NewDatabase creates.
func (p *Postgres) AdminDSN() string {
	return p.dsn(postgresDB)
}

func (p *Postgres) dsn(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(postgresUser, postgresPassword),
		Host:     p.hostPort,
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Host returns the host:port on which the container is reachable.
func (p *Postgres) Host() string {
	return p.hostPort
}

// NewDatabase creates a fresh, uniquely named database and returns its DSN.
// The database is dropped, disconnecting any clients left, when t ends.
func (p *Postgres) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	ident := pgx.Identifier{name}.Sanitize()
	if err := p.adminExec(tb.Context(), "CREATE DATABASE "+ident); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(tb.Context()), cleanupTimeout)
		defer cancel()
		if err := p.adminExec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return p.dsn(name)
}

func (p *Postgres) adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, p.AdminDSN())
	if err != nil {
		return fmt.Errorf("connect admin: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	return nil
}

// Pause freezes the container's processes, as an outage that clients see
// as hanging connections: the mapped port stays (a stopped and restarted
// container may get a new one), but nothing answers until Unpause.
func (p *Postgres) Pause(ctx context.Context) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("pause postgres: %w", err)
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.ContainerPause(ctx, p.container.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause postgres: %w", err)
	}
	return nil
}

// Unpause ends a Pause; the server answers again on the same port.
func (p *Postgres) Unpause(ctx context.Context) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("unpause postgres: %w", err)
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.ContainerUnpause(ctx, p.container.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause postgres: %w", err)
	}
	return nil
}

// Terminate stops and removes the container.
func (p *Postgres) Terminate(ctx context.Context) error {
	if err := p.container.Terminate(ctx, testcontainers.StopTimeout(stopTimeout)); err != nil {
		return fmt.Errorf("terminate postgres: %w", err)
	}
	return nil
}

// PostgresDB starts a Postgres container dedicated to this test and returns
// the DSN of a fresh database on it. It skips the test under -short. Tests
// that need many databases should share one StartPostgres from TestMain.
func PostgresDB(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test; needs Docker")
	}
	p, err := StartPostgres(tb.Context())
	if err != nil {
		tb.Fatalf("start postgres: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(tb.Context()), cleanupTimeout)
		defer cancel()
		if err := p.Terminate(ctx); err != nil {
			tb.Errorf("terminate postgres: %v", err)
		}
	})
	return p.NewDatabase(tb)
}

// terminate removes a container that failed to become ready. The caller's
// context may be the reason it failed, so a fresh bounded one is used.
func terminate(ctr *testcontainers.DockerContainer) error {
	if ctr == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := ctr.Terminate(ctx, testcontainers.StopTimeout(stopTimeout)); err != nil {
		return fmt.Errorf("terminate container: %w", err)
	}
	return nil
}
