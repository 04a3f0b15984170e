package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storefront-go/storefront/libs/outbox"
)

// defaultParkedLimit bounds `outbox parked` when --limit is not given.
const defaultParkedLimit = 100

// parkedRow is one parked outbox event; --json prints it as is.
type parkedRow struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	DeadAt    time.Time `json:"dead_at"`
	Subject   string    `json:"subject"`
	Type      string    `json:"type"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
}

func (c *cli) outbox(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("outbox: want parked or requeue")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "parked":
		return c.outboxParked(ctx, rest)
	case "requeue":
		return c.outboxRequeue(ctx, rest)
	default:
		return usagef("outbox: unknown command %q (want parked or requeue)", sub)
	}
}

// outboxParked lists the events a service's relay parked, oldest first.
func (c *cli) outboxParked(ctx context.Context, args []string) error {
	fs := c.flagSet("outbox parked", "outbox parked --database-url URL [--limit N]")
	limit := fs.Int("limit", defaultParkedLimit, "print at most `N` parked events")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("outbox parked: unexpected argument %q", rest[0])
	}
	if *limit <= 0 {
		return usagef("outbox parked: --limit must be positive")
	}
	pool, err := c.connectPostgres(ctx, "outbox parked")
	if err != nil {
		return err
	}
	defer pool.Close()
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	events, err := outbox.ListParked(ctx, pool, *limit)
	if err != nil {
		return err
	}
	p := &printer{w: c.stdout}
	if len(events) == 0 {
		if !c.opts.json {
			p.printf("no parked outbox events\n")
		}
		return p.err
	}
	if c.opts.json {
		for _, e := range events {
			data, err := json.Marshal(parkedRow{
				ID: e.ID.String(), CreatedAt: e.CreatedAt.UTC(), DeadAt: e.DeadAt.UTC(),
				Subject: e.Subject, Type: e.EventType, Attempts: e.Attempts, LastError: e.LastError,
			})
			if err != nil {
				return fmt.Errorf("encode parked event %s: %w", e.ID, err)
			}
			p.printf("%s\n", data)
		}
		return p.err
	}
	out := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	p.w = out
	p.printf("ID\tDEAD AT\tSUBJECT\tTYPE\tATTEMPTS\tLAST ERROR\n")
	for _, e := range events {
		// One line per event: errors from NATS may span lines.
		lastError := strings.Join(strings.Fields(e.LastError), " ")
		p.printf("%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.DeadAt.UTC().Format(time.RFC3339),
			e.Subject, e.EventType, e.Attempts, lastError)
	}
	if err := out.Flush(); err != nil && p.err == nil {
		p.err = err
	}
	return p.err
}

// outboxRequeue makes parked events pending again, so the relay publishes
// them once the cause (a missing stream, a size limit) is fixed.
func (c *cli) outboxRequeue(ctx context.Context, args []string) error {
	fs := c.flagSet("outbox requeue", "outbox requeue --database-url URL ID... | --all")
	all := fs.Bool("all", false, "requeue every parked event")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *all && len(rest) > 0:
		return usagef("outbox requeue: give ID... or --all, not both")
	case !*all && len(rest) == 0:
		return usagef("outbox requeue: want ID... or --all")
	}
	ids := make([]uuid.UUID, 0, len(rest))
	for _, arg := range rest {
		id, err := uuid.Parse(arg)
		if err != nil {
			return usagef("outbox requeue: %q is not an event id (a UUID)", arg)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	pool, err := c.connectPostgres(ctx, "outbox requeue")
	if err != nil {
		return err
	}
	defer pool.Close()
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	var n int64
	if *all {
		n, err = outbox.RequeueAll(ctx, pool)
	} else {
		n, err = outbox.Requeue(ctx, pool, ids...)
	}
	if err != nil {
		return err
	}
	p := &printer{w: c.stdout}
	if c.opts.json {
		p.printf("{\"requeued\":%d}\n", n)
		return p.err
	}
	p.printf("requeued %d parked outbox event(s)\n", n)
	if !*all && n < int64(len(ids)) {
		p.printf("%d id(s) named no parked event (unknown, published or already requeued)\n", int64(len(ids))-n)
	}
	return p.err
}

// connectPostgres opens a small pool to --database-url and checks that it
// answers within --timeout.
func (c *cli) connectPostgres(ctx context.Context, cmd string) (*pgxpool.Pool, error) {
	url := c.opts.databaseURL
	if url == "" {
		return nil, usagef("%s: want --database-url (or $STOREFRONT_DATABASE_URL): the service's Postgres", cmd)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, usagef("%s: --database-url is not a valid Postgres URL", cmd)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	pingCtx, cancel := c.callContext(ctx)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to Postgres at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}
