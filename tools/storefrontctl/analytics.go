package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
)

// maxEventLine bounds one JSON line, the server's default message limit.
const maxEventLine = 4 << 20

// A StreamEvents message carries up to maxPackEvents events (the server
// takes up to 1,000) and about maxPackBytes, well inside the server's
// message limit.
const (
	maxPackEvents = 500
	maxPackBytes  = 1 << 20
)

// parseMetric reads a --metric value of stats top: the enum's name in
// lower case without its prefix.
func parseMetric(name string) (analyticsv1.Metric, bool) {
	v, ok := analyticsv1.Metric_value["METRIC_"+strings.ToUpper(name)]
	if !ok || v == int32(analyticsv1.Metric_METRIC_UNSPECIFIED) || name != strings.ToLower(name) {
		return analyticsv1.Metric_METRIC_UNSPECIFIED, false
	}
	return analyticsv1.Metric(v), true
}

func (c *cli) events(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("events: want send or stream")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "send":
		return c.eventsSend(ctx, rest)
	case "stream":
		return c.eventsStream(ctx, rest)
	default:
		return usagef("events: unknown command %q (want send or stream)", sub)
	}
}

func (c *cli) stats(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("stats: want product or top")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "product":
		return c.statsProduct(ctx, rest)
	case "top":
		return c.statsTop(ctx, rest)
	default:
		return usagef("stats: unknown command %q (want product or top)", sub)
	}
}

// eventSource reads events from --file or stdin, one protojson Event per
// line; blank lines are skipped.
type eventSource struct {
	scanner *bufio.Scanner
	closer  io.Closer
	line    int
	// generated counts the events that got a new event_id.
	generated int
}

func (c *cli) openEvents(file string) (*eventSource, error) {
	r := c.stdin
	var closer io.Closer
	if file != "" && file != "-" {
		f, err := os.Open(file) // #nosec G304 -- the user names the events file
		if err != nil {
			return nil, fmt.Errorf("open events: %w", err)
		}
		r, closer = f, f
	}
	if r == nil {
		r = strings.NewReader("")
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	return &eventSource{scanner: sc, closer: closer}, nil
}

func (s *eventSource) close() {
	if s.closer != nil {
		_ = s.closer.Close()
	}
}

// next returns the next event and its line number. A line that is not an
// event comes back as an error naming the line, and reading goes on; io.EOF
// ends the input.
func (s *eventSource) next() (*analyticsv1.Event, int, error) {
	for s.scanner.Scan() {
		s.line++
		text := bytes.TrimSpace(s.scanner.Bytes())
		if len(text) == 0 {
			continue
		}
		ev := &analyticsv1.Event{}
		if err := protojson.Unmarshal(text, ev); err != nil {
			return nil, s.line, fmt.Errorf("line %d: not an event: %w", s.line, err)
		}
		if ev.GetEventId() == "" {
			id, err := uuid.NewV7()
			if err != nil {
				return nil, s.line, fmt.Errorf("line %d: new event id: %w", s.line, err)
			}
			ev.EventId = id.String()
			s.generated++
		}
		if ev.GetOccurredAt() == nil {
			ev.OccurredAt = timestamppb.Now()
		}
		return ev, s.line, nil
	}
	if err := s.scanner.Err(); err != nil {
		return nil, s.line + 1, fmt.Errorf("line %d: %w", s.line+1, err)
	}
	return nil, 0, io.EOF
}

// warnGenerated says when ids were made up, since resending then stores the
// events again.
func (c *cli) warnGenerated(src *eventSource) {
	if src.generated > 0 {
		p := &printer{w: c.stderr}
		p.printf("note: events without an event_id got a new one (%d); sending the same input again stores them again\n", src.generated)
	}
}

// eventsInput parses the command line of events send or stream, opens the
// events and connects to analytics; done closes both.
func (c *cli) eventsInput(cmd string, args []string) (*eventSource, analyticsv1.AnalyticsServiceClient, func(), error) {
	fs := c.flagSet("events "+cmd, "events "+cmd+" [--file FILE]")
	file := fs.String("file", "", "JSON lines `file` of events (default stdin)")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(rest) > 0 {
		return nil, nil, nil, usagef("events %s: unexpected argument %q", cmd, rest[0])
	}
	conn, err := c.connect(c.opts.analyticsAddr)
	if err != nil {
		return nil, nil, nil, err
	}
	src, err := c.openEvents(*file)
	if err != nil {
		_ = conn.Close()
		return nil, nil, nil, err
	}
	done := func() {
		src.close()
		_ = conn.Close()
	}
	return src, analyticsv1.NewAnalyticsServiceClient(conn), done, nil
}

// eventsSend sends each event with TrackEvent and prints its id and
// whether it was a duplicate. It goes on past a failing line and exits 1
// if any failed.
func (c *cli) eventsSend(ctx context.Context, args []string) error {
	src, client, done, err := c.eventsInput("send", args)
	if err != nil {
		return err
	}
	defer done()
	p := &printer{w: c.stdout}
	var failed listErrors
	for p.err == nil && ctx.Err() == nil {
		ev, line, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			failed = append(failed, err)
			continue
		}
		callCtx, cancel := c.callContext(ctx)
		resp, err := client.TrackEvent(callCtx, &analyticsv1.TrackEventRequest{Event: ev})
		cancel()
		if err != nil {
			failed = append(failed, fmt.Errorf("line %d (event %s): %w", line, ev.GetEventId(), err))
			continue
		}
		if c.opts.json {
			p.message(resp, true)
			continue
		}
		state := "stored"
		if resp.GetDuplicate() {
			state = "duplicate"
		}
		p.printf("%s  %s\n", resp.GetEventId(), state)
	}
	c.warnGenerated(src)
	if p.err != nil {
		return p.err
	}
	if len(failed) > 0 {
		return failed
	}
	return ctx.Err()
}

// eventsStream sends every event on one StreamEvents call and prints the
// server's counts and rejections, each rejection with its input line.
func (c *cli) eventsStream(ctx context.Context, args []string) error {
	src, client, done, err := c.eventsInput("stream", args)
	if err != nil {
		return err
	}
	defer done()
	streamCtx, cancel := c.streamContext(ctx)
	defer cancel()
	stream, err := client.StreamEvents(streamCtx)
	if err != nil {
		return err
	}
	// lines[i] is the input line of the stream's event i.
	var lines []int
	var bad listErrors
	// Events go many to a message, which costs the server far less per
	// event than one message each.
	var (
		pack      []*analyticsv1.Event
		packLines []int
		packBytes int
	)
	send := func() bool {
		if len(pack) == 0 {
			return true
		}
		if err := stream.Send(&analyticsv1.StreamEventsRequest{Events: pack}); err != nil {
			// io.EOF: the server ended the stream; its status says why.
			return false
		}
		lines = append(lines, packLines...)
		pack, packLines, packBytes = pack[:0], packLines[:0], 0
		return true
	}
	for {
		ev, line, err := src.next()
		if errors.Is(err, io.EOF) {
			send()
			break
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		size := proto.Size(ev)
		if (len(pack) >= maxPackEvents || packBytes+size > maxPackBytes) && !send() {
			break
		}
		pack, packLines, packBytes = append(pack, ev), append(packLines, line), packBytes+size
	}
	resp, err := stream.CloseAndRecv()
	c.warnGenerated(src)
	if err != nil {
		return append(bad, fmt.Errorf("stream after %d events sent: %w", len(lines), err))
	}
	p := &printer{w: c.stdout}
	if c.opts.json {
		p.message(resp, false)
	} else {
		p.printf("sent %d, accepted %d (%d duplicates), rejected %d\n",
			len(lines), resp.GetAcceptedCount(), resp.GetDuplicateCount(), resp.GetRejectedCount())
		for _, r := range resp.GetRejected() {
			line := "?"
			if i := r.GetIndex(); i >= 0 && i < int64(len(lines)) {
				line = strconv.Itoa(lines[i])
			}
			p.printf("  line %s  index %d  event %s: %s\n", line, r.GetIndex(), r.GetEventId(), r.GetReason())
		}
		if n := resp.GetRejectedCount() - int64(len(resp.GetRejected())); n > 0 {
			p.printf("  and %d more rejected, not listed\n", n)
		}
	}
	if p.err != nil {
		return p.err
	}
	if len(bad) > 0 {
		return bad
	}
	return nil
}

// window reads --since or --from/--to. --from alone runs to now.
type window struct {
	since    time.Duration
	from, to string
}

func (w *window) register(fs *flag.FlagSet) {
	fs.DurationVar(&w.since, "since", 24*time.Hour, "the window is the last `duration`")
	fs.StringVar(&w.from, "from", "", "window start, an RFC 3339 `time` (overrides --since)")
	fs.StringVar(&w.to, "to", "", "window end, an RFC 3339 `time` (default now)")
}

func (w *window) bounds(cmd string, now time.Time) (*timestamppb.Timestamp, *timestamppb.Timestamp, error) {
	end := now
	if w.to != "" {
		t, err := time.Parse(time.RFC3339, w.to)
		if err != nil {
			return nil, nil, usagef("%s: --to %q: want an RFC 3339 time like 2026-12-06T10:00:00Z", cmd, w.to)
		}
		end = t
	}
	start := end.Add(-w.since)
	if w.from != "" {
		t, err := time.Parse(time.RFC3339, w.from)
		if err != nil {
			return nil, nil, usagef("%s: --from %q: want an RFC 3339 time like 2026-12-05T10:00:00Z", cmd, w.from)
		}
		start = t
	} else if w.since <= 0 {
		return nil, nil, usagef("%s: --since must be positive", cmd)
	}
	return timestamppb.New(start), timestamppb.New(end), nil
}

func (c *cli) statsProduct(ctx context.Context, args []string) error {
	fs := c.flagSet("stats product", "stats product [--since D | --from T [--to T]] PRODUCT_ID")
	var w window
	w.register(fs)
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("stats product: want exactly one PRODUCT_ID")
	}
	start, end, err := w.bounds("stats product", time.Now())
	if err != nil {
		return err
	}
	req := &analyticsv1.GetProductStatsRequest{ProductId: rest[0], StartTime: start, EndTime: end}
	return analyticsUnary(ctx, c, func(ctx context.Context, cl analyticsv1.AnalyticsServiceClient) (*analyticsv1.GetProductStatsResponse, error) {
		return cl.GetProductStats(ctx, req)
	}, func(p *printer, r *analyticsv1.GetProductStatsResponse) {
		s := r.GetStats()
		p.printf("product:     %s\n", s.GetProductId())
		if s.GetName() != "" {
			p.printf("name:        %s (%s)\n", s.GetName(), s.GetCategoryId())
		}
		p.printf("window:      %s .. %s\n", formatTime(r.GetWindowStart()), formatTime(r.GetWindowEnd()))
		p.printf("views:       %d\n", s.GetViews())
		p.printf("add to cart: %d\n", s.GetAddToCarts())
		p.printf("orders:      %d\n", s.GetOrders())
		p.printf("units sold:  %d\n", s.GetUnitsSold())
		p.printf("revenue:     %s\n", formatRevenue(s.GetRevenue()))
	})
}

func (c *cli) statsTop(ctx context.Context, args []string) error {
	fs := c.flagSet("stats top", "stats top --metric M [--currency C] [--limit N] [--since D | --from T [--to T]]")
	metricName := fs.String("metric", "", "views, add_to_carts, orders, units_sold or revenue")
	currency := fs.String("currency", "", "currency `code` (required for revenue)")
	limit := fs.Int("limit", 10, "products to list, 1 to 100")
	var w window
	w.register(fs)
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("stats top: unexpected argument %q", rest[0])
	}
	metric, ok := parseMetric(*metricName)
	if !ok {
		return usagef("stats top: --metric %q: want views, add_to_carts, orders, units_sold or revenue", *metricName)
	}
	n, err := int32Flag("limit", *limit)
	if err != nil {
		return err
	}
	start, end, err := w.bounds("stats top", time.Now())
	if err != nil {
		return err
	}
	req := &analyticsv1.TopProductsRequest{
		Metric: metric, StartTime: start, EndTime: end, Limit: n, CurrencyCode: strings.ToUpper(*currency),
	}
	return analyticsUnary(ctx, c, func(ctx context.Context, cl analyticsv1.AnalyticsServiceClient) (*analyticsv1.TopProductsResponse, error) {
		return cl.TopProducts(ctx, req)
	}, func(p *printer, r *analyticsv1.TopProductsResponse) {
		p.printf("window: %s .. %s\n", formatTime(r.GetWindowStart()), formatTime(r.GetWindowEnd()))
		p.printf(topRowFormat, "RANK", "PRODUCT", strings.ToUpper(*metricName), "NAME")
		for i, s := range r.GetProducts() {
			p.printf(topRowFormat, strconv.Itoa(i+1), s.GetProductId(), metricValue(s, metric, req.GetCurrencyCode()), s.GetName())
		}
	})
}

const topRowFormat = "%4s  %-36s  %16s  %s\n"

// metricValue is the ranked value of s.
func metricValue(s *analyticsv1.ProductStats, m analyticsv1.Metric, currency string) string {
	switch m {
	case analyticsv1.Metric_METRIC_VIEWS:
		return strconv.FormatInt(s.GetViews(), 10)
	case analyticsv1.Metric_METRIC_ADD_TO_CARTS:
		return strconv.FormatInt(s.GetAddToCarts(), 10)
	case analyticsv1.Metric_METRIC_ORDERS:
		return strconv.FormatInt(s.GetOrders(), 10)
	case analyticsv1.Metric_METRIC_UNITS_SOLD:
		return strconv.FormatInt(s.GetUnitsSold(), 10)
	case analyticsv1.Metric_METRIC_REVENUE:
		for _, m := range s.GetRevenue() {
			if m.GetCurrencyCode() == currency {
				return formatMinor(m.GetAmountMinor(), currency)
			}
		}
		return formatMinor(0, currency)
	default:
		return "-"
	}
}

func formatRevenue(revenue []*analyticsv1.Money) string {
	if len(revenue) == 0 {
		return "-"
	}
	parts := make([]string, len(revenue))
	for i, m := range revenue {
		parts[i] = formatMinor(m.GetAmountMinor(), m.GetCurrencyCode())
	}
	return strings.Join(parts, ", ")
}

// analyticsUnary makes one AnalyticsService call at --analytics-addr.
func analyticsUnary[R proto.Message](ctx context.Context, c *cli, call func(context.Context, analyticsv1.AnalyticsServiceClient) (R, error), text func(*printer, R)) error {
	return unaryAt(ctx, c, c.opts.analyticsAddr, analyticsv1.NewAnalyticsServiceClient, call, text)
}
