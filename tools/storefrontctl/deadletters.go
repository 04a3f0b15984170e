package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/consumer"
)

// natsConnectTimeout bounds dialling NATS when --timeout is longer.
const natsConnectTimeout = 5 * time.Second

// redriveMarker separates the event id from the dead-letter sequence in the
// Nats-Msg-Id of a re-driven message. The id is new for every dead letter, so
// the origin stream's duplicate window lets the copy through, yet the same for
// a repeated redrive of one dead letter, so that one is dropped.
const redriveMarker = ":redrive:"

// deadLetter is one message of the DEADLETTER stream; --json prints it as is.
type deadLetter struct {
	Seq             uint64    `json:"seq"`
	Time            time.Time `json:"time"`
	Consumer        string    `json:"consumer"`
	OriginalSubject string    `json:"original_subject"`
	EventID         string    `json:"event_id"`
	Type            string    `json:"type,omitempty"`
	Deliveries      uint64    `json:"deliveries"`
	Reason          string    `json:"reason"`
}

// readDeadLetter reads what a consumer recorded on a dead letter. Older or
// hand-made dead letters may lack Storefront-Event-Id or Storefront-Consumer;
// both can be recovered from Nats-Msg-Id and the subject.
func readDeadLetter(m *jetstream.RawStreamMsg) deadLetter {
	h := m.Header
	dl := deadLetter{
		Seq:             m.Sequence,
		Time:            m.Time.UTC(),
		Consumer:        h.Get(broker.HeaderConsumer),
		OriginalSubject: h.Get(broker.HeaderOriginalSubject),
		EventID:         h.Get(consumer.HeaderEventID),
		Type:            h.Get(broker.HeaderType),
		Reason:          h.Get(broker.HeaderDeadLetterReason),
	}
	if dl.Consumer == "" {
		dl.Consumer = strings.TrimPrefix(m.Subject, broker.DeadLetterSubject(""))
	}
	if dl.EventID == "" {
		dl.EventID = strings.TrimPrefix(h.Get(broker.HeaderMsgID), dl.Consumer+":")
	}
	if n, err := strconv.ParseUint(h.Get(broker.HeaderDeliveryCount), 10, 64); err == nil {
		dl.Deliveries = n
	}
	return dl
}

func (c *cli) deadLetters(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("deadletters: want list or redrive")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "list":
		return c.deadLettersList(ctx, rest)
	case "redrive":
		return c.deadLettersRedrive(ctx, rest)
	default:
		return usagef("deadletters: unknown command %q (want list or redrive)", sub)
	}
}

// deadLettersList prints the dead letters, oldest first. No DEADLETTER
// stream means nothing was ever dead-lettered, which is not an error.
func (c *cli) deadLettersList(ctx context.Context, args []string) error {
	fs := c.flagSet("deadletters list", "deadletters list [--consumer DURABLE] [--limit N]")
	durable := fs.String("consumer", "", "only the dead letters of this durable `consumer`")
	limit := fs.Int("limit", 0, "print at most `N` dead letters (0: all)")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("deadletters list: unexpected argument %q", rest[0])
	}
	if err := checkDurable("deadletters list", *durable); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("deadletters list: --limit must not be negative")
	}
	js, closeConn, err := c.connectNATS()
	if err != nil {
		return err
	}
	defer closeConn()
	stream, err := c.deadLetterStream(ctx, js)
	if err != nil || stream == nil {
		if err == nil {
			err = c.printNoDeadLetters(*durable)
		}
		return err
	}

	var out *tabwriter.Writer
	p := &printer{w: c.stdout}
	if !c.opts.json {
		out = tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		p.w = out
	}
	n := 0
	err = c.eachDeadLetter(ctx, stream, *durable, func(m *jetstream.RawStreamMsg) error {
		dl := readDeadLetter(m)
		if c.opts.json {
			data, err := json.Marshal(dl)
			if err != nil {
				return fmt.Errorf("encode dead letter %d: %w", dl.Seq, err)
			}
			p.printf("%s\n", data)
		} else {
			if n == 0 {
				p.printf("SEQ\tTIME\tCONSUMER\tSUBJECT\tEVENT ID\tDELIVERIES\tREASON\n")
			}
			p.printf("%d\t%s\t%s\t%s\t%s\t%d\t%s\n", dl.Seq, dl.Time.Format(time.RFC3339),
				dl.Consumer, dl.OriginalSubject, dl.EventID, dl.Deliveries, dl.Reason)
		}
		n++
		if *limit > 0 && n >= *limit {
			return errStopScan
		}
		return p.err
	})
	if err != nil {
		return err
	}
	if out != nil {
		if err := out.Flush(); err != nil && p.err == nil {
			p.err = err
		}
	}
	if p.err != nil {
		return p.err
	}
	if n == 0 {
		return c.printNoDeadLetters(*durable)
	}
	return nil
}

// redriveResult reports one re-driven dead letter; --json prints it as is.
type redriveResult struct {
	Seq      uint64 `json:"seq"`
	Consumer string `json:"consumer"`
	EventID  string `json:"event_id"`
	// Subject is the consumer's redrive subject, where the copy went.
	Subject         string `json:"subject"`
	OriginalSubject string `json:"original_subject"`
	Stream          string `json:"stream"`
	StreamSeq       uint64 `json:"stream_seq"`
	// Duplicate means the stream already had this copy: an earlier redrive
	// published it but did not get to delete the dead letter.
	Duplicate bool `json:"duplicate,omitempty"`
}

// deadLettersRedrive re-drives the named dead letters, or all of them. It
// goes on past one that fails, which stays in DEADLETTER, and reports every
// failure at the end.
func (c *cli) deadLettersRedrive(ctx context.Context, args []string) error {
	fs := c.flagSet("deadletters redrive", "deadletters redrive SEQ... | --all [--consumer DURABLE]")
	all := fs.Bool("all", false, "re-drive every dead letter (of --consumer, when given)")
	durable := fs.String("consumer", "", "only the dead letters of this durable `consumer`")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *all && len(rest) > 0:
		return usagef("deadletters redrive: give SEQ... or --all, not both")
	case !*all && len(rest) == 0:
		return usagef("deadletters redrive: want SEQ... or --all")
	}
	if err := checkDurable("deadletters redrive", *durable); err != nil {
		return err
	}
	seqs := make([]uint64, 0, len(rest))
	for _, arg := range rest {
		seq, err := strconv.ParseUint(arg, 10, 64)
		if err != nil || seq == 0 {
			return usagef("deadletters redrive: %q is not a stream sequence", arg)
		}
		seqs = append(seqs, seq)
	}
	js, closeConn, err := c.connectNATS()
	if err != nil {
		return err
	}
	defer closeConn()
	stream, err := c.deadLetterStream(ctx, js)
	if err != nil {
		return err
	}
	if stream == nil {
		if *all {
			return c.printNoDeadLetters(*durable)
		}
		return fmt.Errorf("no stream %s: nothing was dead-lettered yet", broker.DeadLetterStream)
	}

	p := &printer{w: c.stdout}
	var failed listErrors
	// redriveOne records a failed dead letter and goes on; only a failed
	// write or an interrupt stops the run.
	redriveOne := func(m *jetstream.RawStreamMsg) error {
		res, err := c.redrive(ctx, js, stream, m)
		if err != nil {
			failed = append(failed, err)
		} else {
			c.printRedrive(p, res)
		}
		if p.err != nil {
			return p.err
		}
		return ctx.Err()
	}
	found := 0
	if *all {
		err = c.eachDeadLetter(ctx, stream, *durable, func(m *jetstream.RawStreamMsg) error {
			found++
			return redriveOne(m)
		})
	} else {
		for _, seq := range seqs {
			m, gerr := c.getDeadLetter(ctx, stream, seq, *durable)
			if gerr != nil {
				failed = append(failed, gerr)
				err = ctx.Err()
			} else {
				err = redriveOne(m)
			}
			if err != nil {
				break
			}
		}
	}
	if err != nil {
		failed = append(failed, err)
	}
	if len(failed) > 0 {
		return failed
	}
	if *all && found == 0 {
		return c.printNoDeadLetters(*durable)
	}
	return nil
}

// redrive publishes the dead letter m to the redrive subject of the
// consumer that dead-lettered it, waits for the stream to store it, and
// deletes m. The copy carries the original headers (event type, trace
// context), Storefront-Event-Id so that the consumer keeps the event's inbox
// identity, and a Nats-Msg-Id of its own. Only that consumer receives it:
// the others handled the event, and their inbox may have forgotten it.
func (c *cli) redrive(ctx context.Context, js jetstream.JetStream, dlq jetstream.Stream, m *jetstream.RawStreamMsg) (redriveResult, error) {
	dl := readDeadLetter(m)
	if dl.OriginalSubject == "" {
		return redriveResult{}, fmt.Errorf("dead letter %d has no %s header", dl.Seq, broker.HeaderOriginalSubject)
	}
	if dl.EventID == "" {
		return redriveResult{}, fmt.Errorf("dead letter %d has no event id", dl.Seq)
	}
	if dl.Consumer == "" || strings.ContainsAny(dl.Consumer, ".*> \t\r\n") {
		return redriveResult{}, fmt.Errorf("dead letter %d names no consumer to re-drive it to (%q)", dl.Seq, dl.Consumer)
	}
	cctx, cancel := c.callContext(ctx)
	defer cancel()
	name, err := js.StreamNameBySubject(cctx, dl.OriginalSubject)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return redriveResult{}, fmt.Errorf("dead letter %d: no stream stores its original subject %s; it stays dead-lettered", dl.Seq, dl.OriginalSubject)
	}
	if err != nil {
		return redriveResult{}, fmt.Errorf("dead letter %d: find the stream of %s: %w", dl.Seq, dl.OriginalSubject, err)
	}
	subject := consumer.RedriveSubject(dl.OriginalSubject, dl.Consumer)
	if err := checkRedriveTarget(cctx, js, name, dl, subject); err != nil {
		return redriveResult{}, err
	}
	out := &nats.Msg{Subject: subject, Header: redriveHeaders(m.Header, dl.EventID, dl.Seq), Data: m.Data}
	// Expecting the stream keeps the copy from going anywhere else, should
	// the streams change between the lookup and the publish.
	ack, err := js.PublishMsg(cctx, out, jetstream.WithExpectStream(name))
	if err != nil {
		return redriveResult{}, fmt.Errorf("redrive dead letter %d to %s: %w", dl.Seq, subject, err)
	}
	if err := dlq.DeleteMsg(cctx, dl.Seq); err != nil {
		return redriveResult{}, fmt.Errorf("dead letter %d was re-driven to %s (stream %s, seq %d) but not deleted; "+
			"re-driving it again within the stream's duplicate window changes nothing: %w",
			dl.Seq, subject, ack.Stream, ack.Sequence, err)
	}
	return redriveResult{
		Seq: dl.Seq, Consumer: dl.Consumer, EventID: dl.EventID, Subject: subject, OriginalSubject: dl.OriginalSubject,
		Stream: ack.Stream, StreamSeq: ack.Sequence, Duplicate: ack.Duplicate,
	}, nil
}

// checkRedriveTarget makes sure that a copy published on subject reaches
// the dead letter's consumer: stream stores the subject, and the consumer
// exists on stream and filters on it. Otherwise the copy would sit unread,
// or be skipped for good, and the dead letter would be gone.
func checkRedriveTarget(ctx context.Context, js jetstream.JetStream, stream string, dl deadLetter, subject string) error {
	got, err := js.StreamNameBySubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) || err == nil && got != stream:
		return fmt.Errorf("dead letter %d: stream %s does not store %s, the subject that re-drives it to consumer %s; it stays dead-lettered",
			dl.Seq, stream, subject, dl.Consumer)
	case err != nil:
		return fmt.Errorf("dead letter %d: find the stream of %s: %w", dl.Seq, subject, err)
	}
	cons, err := js.Consumer(ctx, stream, dl.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("dead letter %d: stream %s has no consumer %s; it stays dead-lettered", dl.Seq, stream, dl.Consumer)
	}
	if err != nil {
		return fmt.Errorf("dead letter %d: look up consumer %s: %w", dl.Seq, dl.Consumer, err)
	}
	if !consumer.Delivers(cons.CachedInfo().Config, subject) {
		return fmt.Errorf("dead letter %d: consumer %s does not receive %s (is it older than redrive subjects?); it stays dead-lettered",
			dl.Seq, dl.Consumer, subject)
	}
	return nil
}

// redriveHeaders returns the headers of the re-driven copy of a dead letter
// with sequence seq: its own minus NATS directives and stream metadata
// (Nats-*) and the dead-letter headers, plus the event id and a new
// Nats-Msg-Id.
func redriveHeaders(h nats.Header, eventID string, seq uint64) nats.Header {
	out := make(nats.Header, len(h)+2)
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "nats-") || isDeadLetterHeader(k) {
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	out.Set(consumer.HeaderEventID, eventID)
	out.Set(broker.HeaderMsgID, eventID+redriveMarker+strconv.FormatUint(seq, 10))
	return out
}

// isDeadLetterHeader reports whether k is one of the headers a consumer adds
// to a dead letter, which a re-driven message leaves behind.
func isDeadLetterHeader(k string) bool {
	return strings.EqualFold(k, broker.HeaderOriginalSubject) ||
		strings.EqualFold(k, broker.HeaderDeadLetterReason) ||
		strings.EqualFold(k, broker.HeaderConsumer) ||
		strings.EqualFold(k, broker.HeaderDeliveryCount)
}

func (c *cli) printRedrive(p *printer, res redriveResult) {
	if c.opts.json {
		data, err := json.Marshal(res)
		if err != nil {
			if p.err == nil {
				p.err = fmt.Errorf("encode redrive of dead letter %d: %w", res.Seq, err)
			}
			return
		}
		p.printf("%s\n", data)
		return
	}
	note := ""
	if res.Duplicate {
		note = " (already there from an earlier redrive)"
	}
	p.printf("re-drove dead letter %d (consumer %s, event %s) to %s: stream %s seq %d%s\n",
		res.Seq, res.Consumer, res.EventID, res.Subject, res.Stream, res.StreamSeq, note)
}

func (c *cli) printNoDeadLetters(durable string) error {
	if c.opts.json {
		return nil
	}
	p := &printer{w: c.stdout}
	if durable == "" {
		p.printf("no dead letters\n")
	} else {
		p.printf("no dead letters for consumer %s\n", durable)
	}
	return p.err
}

// checkDurable rejects a --consumer value that cannot be a subject token.
func checkDurable(cmd, durable string) error {
	if strings.ContainsAny(durable, ".*> \t\r\n") {
		return usagef("%s: --consumer %q may not contain '.', '*', '>' or whitespace", cmd, durable)
	}
	return nil
}

// connectNATS dials --nats once, without the reconnect loop services use: a
// command line should fail fast when the server is unreachable.
func (c *cli) connectNATS() (jetstream.JetStream, func(), error) {
	timeout := natsConnectTimeout
	if c.opts.timeout > 0 {
		timeout = min(timeout, c.opts.timeout)
	}
	where := redactURL(c.opts.natsURL)
	nc, err := nats.Connect(c.opts.natsURL, nats.Name("storefrontctl"), nats.Timeout(timeout), nats.NoReconnect())
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", where, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream on %s: %w", where, err)
	}
	return js, nc.Close, nil
}

// redactURL hides a password in a NATS URL before it goes into an error.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// deadLetterStream returns the DEADLETTER stream, or nil when it does not
// exist: the first consumer that dead-letters creates it.
func (c *cli) deadLetterStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	cctx, cancel := c.callContext(ctx)
	defer cancel()
	stream, err := js.Stream(cctx, broker.DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", broker.DeadLetterStream, err)
	}
	return stream, nil
}

// errStopScan ends eachDeadLetter early without an error.
var errStopScan = errors.New("stop scan")

// eachDeadLetter calls fn with each dead letter (of durable, when not empty)
// that the stream held when the scan began, oldest first, one GetMsg per
// message. Dead letters stored during the scan, such as a re-driven event
// failing again, are left for the next run.
func (c *cli) eachDeadLetter(ctx context.Context, stream jetstream.Stream, durable string, fn func(*jetstream.RawStreamMsg) error) error {
	cctx, cancel := c.callContext(ctx)
	info, err := stream.Info(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("read stream %s: %w", broker.DeadLetterStream, err)
	}
	filter := broker.DeadLetterSubjects
	if durable != "" {
		filter = broker.DeadLetterSubject(durable)
	}
	last := info.State.LastSeq
	// Every round moves seq past a stored message, so this ends by last.
	for seq := max(info.State.FirstSeq, 1); seq <= last; {
		m, err := c.nextDeadLetter(ctx, stream, seq, filter)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if m.Sequence > last || m.Sequence < seq {
			return nil
		}
		if err := fn(m); err != nil {
			if errors.Is(err, errStopScan) {
				return nil
			}
			return err
		}
		seq = m.Sequence + 1
	}
	return nil
}

// nextDeadLetter reads the first message at or after seq on filter.
func (c *cli) nextDeadLetter(ctx context.Context, stream jetstream.Stream, seq uint64, filter string) (*jetstream.RawStreamMsg, error) {
	cctx, cancel := c.callContext(ctx)
	defer cancel()
	m, err := stream.GetMsg(cctx, seq, jetstream.WithGetMsgSubject(filter))
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("read stream %s from seq %d: %w", broker.DeadLetterStream, seq, err)
	}
	return m, err
}

// getDeadLetter reads the dead letter with sequence seq and, when durable
// is set, checks that it is one of durable's.
func (c *cli) getDeadLetter(ctx context.Context, stream jetstream.Stream, seq uint64, durable string) (*jetstream.RawStreamMsg, error) {
	cctx, cancel := c.callContext(ctx)
	defer cancel()
	m, err := stream.GetMsg(cctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("dead letter %d not found in %s", seq, broker.DeadLetterStream)
	}
	if err != nil {
		return nil, fmt.Errorf("read dead letter %d: %w", seq, err)
	}
	if durable != "" && m.Subject != broker.DeadLetterSubject(durable) {
		return nil, fmt.Errorf("dead letter %d belongs to %s, not to consumer %s", seq, strings.TrimPrefix(m.Subject, broker.DeadLetterSubject("")), durable)
	}
	return m, nil
}
