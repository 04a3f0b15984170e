package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/auth"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed (an RPC error, a bad key file)
	exitUsage = 2 // the command line was wrong
)

const (
	defaultAddr          = "localhost:50051"
	defaultOrdersAddr    = "localhost:50052"
	defaultAnalyticsAddr = "localhost:50053"
	defaultNATSURL       = "nats://127.0.0.1:4222"
	defaultTimeout       = 30 * time.Second
)

const usageText = `storefrontctl talks to the Storefront catalogue, orders and analytics services
over gRPC.
It also lists and re-drives the dead letters of the NATS JetStream consumers
and the events a service's outbox relay parked.

Usage:
  storefrontctl [flags] <command> [command flags] [args]

Commands:
  products list     [--category ID] [--page-size N] [--page-token T]
  products get      PRODUCT_ID
  products search   [--category ID] [--min-price P] [--max-price P]
                    [--sort relevance|price-asc|price-desc|newest] [--facets]
                    [--price-bands P,P...] [--page-size N] [--page-token T] [QUERY...]
  products suggest  [--category ID] [--limit N] PREFIX...
  products create   --sku SKU --name NAME --category ID --price 19.99
                    [--currency EUR] [--stock N] [--description D] [--image URL]...
  stock reserve     [--id RESERVATION_ID] PRODUCT_ID=QTY...
  stock release     RESERVATION_ID
  stock watch       PRODUCT_ID...
  orders place      [--key KEY] [--customer ID] PRODUCT_ID=QTY...
  orders get        ORDER_ID
  orders list       [--customer ID] [--page-size N] [--page-token T]
  orders cancel     [--reason TEXT] ORDER_ID
  events send       [--file FILE]     one TrackEvent per JSON line (default stdin)
  events stream     [--file FILE]     one StreamEvents of every JSON line
  stats product     [--since D | --from T --to T] PRODUCT_ID
  stats top         --metric M [--currency C] [--limit N] [--since D | --from T --to T]
  seed              [--products N] [--concurrency N] [--skip-unimplemented]
  token             --sub SUBJECT [--role ROLE]... [--scope S] [--ttl 1h] [--key FILE]
  keygen            --private FILE --jwks FILE [--kid KID] [--force]
  deadletters list  [--consumer DURABLE] [--limit N]
  deadletters redrive SEQ... | --all [--consumer DURABLE]
  outbox parked     [--limit N]
  outbox requeue    ID... | --all

Flags (accepted before or after the command):
  --addr ADDR       catalogue gRPC address (default $STOREFRONT_ADDR or localhost:50051)
  --orders-addr ADDR  orders gRPC address (default $STOREFRONT_ORDERS_ADDR or
                    localhost:50052)
  --analytics-addr ADDR  analytics gRPC address (default
                    $STOREFRONT_ANALYTICS_ADDR or localhost:50053)
  --nats URL        NATS server for deadletters (default $STOREFRONT_NATS_URL or
                    nats://127.0.0.1:4222)
  --database-url URL  a service's Postgres, for outbox (default
                    $STOREFRONT_DATABASE_URL)
  --token TOKEN     bearer token for writes and orders (default $STOREFRONT_TOKEN;
                    mint a dev one with: token --sub alice --role customer)
  --json            print responses as protojson (streams: one message per line);
                    deadletters and outbox print one JSON object per line
  --timeout D       deadline per call (default 30s); streams (list, watch) have
                    none unless --timeout is given

Events (JSON lines, one analytics.v1.Event each, protojson field names):
  {"event_name":"product_viewed","product_id":"<id>","user_id":"u1"}
  A line without event_id gets a new UUIDv7 and one without occurred_at gets
  the current time; give event_id yourself so that sending the file again
  stores nothing twice. send prints each event's id and whether it was a
  duplicate and goes on past a line that fails; stream prints the accepted,
  duplicate and rejected counts and each rejected event with its line
  number. stream needs a token with role service or admin, stats one with
  role analyst or admin. Metrics for stats top: views, add_to_carts,
  orders, units_sold, revenue (with --currency). Windows default to the
  last 24 hours; --from and --to take RFC 3339 times.

Dead letters (stream DEADLETTER, subjects deadletter.<durable>):
  list prints, oldest first, each dead letter's stream sequence, when it was
  dead-lettered, the consumer, the original subject, the event id, the number
  of deliveries and the reason. redrive publishes a dead letter again, to the
  one consumer that dead-lettered it: on its redrive subject (the original
  subject with _redrive.<durable> after the first token, which the original
  stream stores and only that consumer receives), with its original headers
  and event id (Storefront-Event-Id; Nats-Msg-Id becomes
  <event id>:redrive:<seq>). It waits for the stream to store it, then deletes
  it from DEADLETTER. The other consumers of the subject never see it, however
  old the dead letter. A dead letter whose consumer is gone from the stream,
  or does not filter on its redrive subject (a service from before redrive
  subjects), stays in DEADLETTER.

Parked outbox events (outbox_events rows with dead_at set):
  a service's relay parks an event after OUTBOX_MAX_ATTEMPTS failures of its
  own (no stream for its subject, too large). parked lists them, oldest first,
  with the last error; requeue makes them pending again, attempts reset, once
  the cause is fixed, and the relay publishes them on its next poll.

Errors print "error: <grpc code>: <message>" to stderr and exit 1; a wrong
command line exits 2. redrive goes on past a dead letter it cannot re-drive,
which stays in DEADLETTER, and prints one error line for each.
`

// usageError is a mistake in the command line; it exits with exitUsage.
// reported means the flag package already printed it.
type usageError struct {
	msg      string
	reported bool
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// globalOptions are the flags every RPC command accepts.
type globalOptions struct {
	addr          string
	ordersAddr    string
	analyticsAddr string
	natsURL       string
	databaseURL   string
	token         string
	json          bool
	timeout       time.Duration
	timeoutSet    bool
}

// cli runs one command line. Output goes only to stdout and stderr, so
// tests can capture it; main is the only code that touches os.Stdout.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	opts   globalOptions
}

// run executes args and returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	c.opts = globalOptions{
		addr: defaultAddr, ordersAddr: defaultOrdersAddr, analyticsAddr: defaultAnalyticsAddr,
		natsURL: defaultNATSURL, timeout: defaultTimeout,
	}
	if addr := getenv("STOREFRONT_ADDR"); addr != "" {
		c.opts.addr = addr
	}
	if addr := getenv("STOREFRONT_ORDERS_ADDR"); addr != "" {
		c.opts.ordersAddr = addr
	}
	if addr := getenv("STOREFRONT_ANALYTICS_ADDR"); addr != "" {
		c.opts.analyticsAddr = addr
	}
	if url := getenv("STOREFRONT_NATS_URL"); url != "" {
		c.opts.natsURL = url
	}
	c.opts.databaseURL = getenv("STOREFRONT_DATABASE_URL")
	err := c.dispatch(ctx, args)
	var uerr *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &uerr):
		if !uerr.reported {
			p := &printer{w: stderr}
			p.printf("error: %s\nRun 'storefrontctl help' for usage.\n", uerr.msg)
		}
		return exitUsage
	default:
		writeError(stderr, err)
		return exitError
	}
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	fs := c.flagSet("storefrontctl", "")
	fs.Usage = func() { c.printUsage(c.stderr) }
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c.finishFlags(fs)
	args = fs.Args()
	if len(args) == 0 {
		c.printUsage(c.stderr)
		return &usageError{msg: "no command", reported: true}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "products":
		return c.products(ctx, rest)
	case "stock":
		return c.stock(ctx, rest)
	case "orders":
		return c.orders(ctx, rest)
	case "events":
		return c.events(ctx, rest)
	case "stats":
		return c.stats(ctx, rest)
	case "seed":
		return c.seed(ctx, rest)
	case "token":
		return c.token(rest)
	case "keygen":
		return c.keygen(rest)
	case "deadletters":
		return c.deadLetters(ctx, rest)
	case "outbox":
		return c.outbox(ctx, rest)
	case "help", "-h", "--help":
		c.printUsage(c.stdout)
		return nil
	default:
		return usagef("unknown command %q", cmd)
	}
}

func (c *cli) printUsage(w io.Writer) {
	p := &printer{w: w}
	p.printf("%s", usageText)
}

// flagSet returns a flag set for one command with the global flags
// registered on it. Their defaults are the values parsed so far, so global
// flags given before the command survive.
func (c *cli) flagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.opts.addr, "addr", c.opts.addr, "catalogue gRPC `address`")
	fs.StringVar(&c.opts.ordersAddr, "orders-addr", c.opts.ordersAddr, "orders gRPC `address` ($STOREFRONT_ORDERS_ADDR sets the default)")
	fs.StringVar(&c.opts.analyticsAddr, "analytics-addr", c.opts.analyticsAddr, "analytics gRPC `address` ($STOREFRONT_ANALYTICS_ADDR sets the default)")
	fs.StringVar(&c.opts.natsURL, "nats", c.opts.natsURL, "NATS server `URL` for deadletters ($STOREFRONT_NATS_URL sets the default)")
	fs.StringVar(&c.opts.databaseURL, "database-url", c.opts.databaseURL, "a service's Postgres `URL` for outbox ($STOREFRONT_DATABASE_URL sets the default)")
	fs.StringVar(&c.opts.token, "token", c.opts.token, "bearer `token` (default $STOREFRONT_TOKEN)")
	fs.BoolVar(&c.opts.json, "json", c.opts.json, "print responses as protojson")
	fs.DurationVar(&c.opts.timeout, "timeout", c.opts.timeout, "deadline per call")
	if usage != "" {
		fs.Usage = func() {
			p := &printer{w: c.stderr}
			p.printf("Usage: storefrontctl %s\n\nFlags:\n", usage)
			fs.PrintDefaults()
		}
	}
	return fs
}

// finishFlags records what parsing fs changed in the global options.
func (c *cli) finishFlags(fs *flag.FlagSet) {
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "timeout" {
			c.opts.timeoutSet = true
		}
	})
}

// parseFlags parses args into fs. Flag errors have been printed by the
// flag package with the usage, so they come back as reported usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return err
	default:
		return &usageError{msg: err.Error(), reported: true}
	}
}

// parseCommand parses a leaf command's flags, which may come before or
// after its positional arguments, and returns the positional arguments.
func (c *cli) parseCommand(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	// Each round consumes at least one argument, so this ends.
	for range len(args) + 1 {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	c.finishFlags(fs)
	return positional, nil
}

// unary dials the catalogue, makes one call within --timeout and prints the
// response: protojson with --json, else through text.
func unary[R proto.Message](ctx context.Context, c *cli, call func(context.Context, cataloguev1.CatalogueServiceClient) (R, error), text func(*printer, R)) error {
	return unaryAt(ctx, c, c.opts.addr, cataloguev1.NewCatalogueServiceClient, call, text)
}

// unaryAt is unary for the service at addr, whose client newClient makes.
func unaryAt[C any, R proto.Message](ctx context.Context, c *cli, addr string, newClient func(grpc.ClientConnInterface) C, call func(context.Context, C) (R, error), text func(*printer, R)) error {
	conn, err := c.connect(addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := call(ctx, newClient(conn))
	if err != nil {
		return err
	}
	p := &printer{w: c.stdout}
	if c.opts.json {
		p.message(resp, false)
	} else {
		text(p, resp)
	}
	return p.err
}

// dial connects to the catalogue. The connection is lazy: errors show up
// on the first call, with their gRPC code.
func (c *cli) dial() (cataloguev1.CatalogueServiceClient, func(), error) {
	conn, err := c.connect(c.opts.addr)
	if err != nil {
		return nil, nil, err
	}
	return cataloguev1.NewCatalogueServiceClient(conn), func() { _ = conn.Close() }, nil
}

// connect makes a lazy client connection to addr that sends the bearer
// token of --token or $STOREFRONT_TOKEN, if any.
func (c *cli) connect(addr string) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	token := c.opts.token
	if token == "" {
		token = strings.TrimSpace(c.getenv("STOREFRONT_TOKEN"))
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(auth.BearerToken(token)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn, nil
}

// callContext bounds one unary call by --timeout.
func (c *cli) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.opts.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.timeout)
}

// streamContext bounds a stream by --timeout only when it was given:
// a watch is meant to run until interrupted.
func (c *cli) streamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if !c.opts.timeoutSet || c.opts.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.timeout)
}
