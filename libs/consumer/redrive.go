package consumer

import (
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// redriveToken is the second token of a re-driven event's subject. Event
// subjects never use it: "<service>.<aggregate>.<event>".
const redriveToken = "_redrive"

// RedriveSubject is the subject that re-drives an event published on
// subject to the one durable consumer that dead-lettered it: the event's
// subject with "_redrive.<durable>" after its first token, so
// "orders.order.cancelled" becomes
// "orders._redrive.catalogue-order-cancelled.order.cancelled". The first
// token stays, so the stream that stores the event (orders.>) stores the
// copy too; every runner filters on its own redrive subjects as well as its
// FilterSubjects, and skips another durable's, so no other consumer of the
// subject handles the copy again. The handler sees the original subject.
func RedriveSubject(subject, durable string) string {
	first, rest, ok := strings.Cut(subject, ".")
	if first == ">" {
		// Every subject already: nothing to add.
		return subject
	}
	out := first + "." + redriveToken + "." + durable
	if ok {
		out += "." + rest
	}
	return out
}

// parseRedrive reads a redrive subject: the durable it is addressed to and
// the event's original subject. ok is false for any other subject.
func parseRedrive(subject string) (durable, original string, ok bool) {
	first, rest, found := strings.Cut(subject, ".")
	if !found {
		return "", "", false
	}
	token, rest, found := strings.Cut(rest, ".")
	if !found || token != redriveToken {
		return "", "", false
	}
	durable, tail, found := strings.Cut(rest, ".")
	if durable == "" {
		return "", "", false
	}
	if !found {
		return durable, first, true
	}
	return durable, first + "." + tail, true
}

// filterSubjects is what the JetStream consumer filters on: the configured
// subjects and, for each, its redrive subject for this durable, unless a
// configured filter already covers it (JetStream refuses a filter that is
// a subset of another). No filter means every subject, redrive ones
// included.
func (cfg Config) filterSubjects() []string {
	if len(cfg.FilterSubjects) == 0 {
		return nil
	}
	out := slices.Clone(cfg.FilterSubjects)
	for _, f := range cfg.FilterSubjects {
		r := RedriveSubject(f, cfg.Durable)
		if slices.ContainsFunc(out, func(g string) bool { return subjectSubset(r, g) }) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Delivers reports whether a JetStream consumer with configuration cc is
// delivered messages stored on subject: storefrontctl checks it before it
// re-drives a dead letter, so that a copy no consumer will read is not
// published (a runner older than redrive subjects does not filter on them).
func Delivers(cc jetstream.ConsumerConfig, subject string) bool {
	filters := cc.FilterSubjects
	if cc.FilterSubject != "" {
		filters = append([]string{cc.FilterSubject}, filters...)
	}
	if len(filters) == 0 {
		return true
	}
	return slices.ContainsFunc(filters, func(f string) bool { return subjectSubset(subject, f) })
}

// subjectSubset reports whether every subject that matches pattern a also
// matches pattern b; for a literal a, whether b matches it.
func subjectSubset(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i, t := range bt {
		if t == ">" {
			return i < len(at)
		}
		if i >= len(at) || at[i] == ">" {
			return false
		}
		if t != "*" && (at[i] == "*" || at[i] != t) {
			return false
		}
	}
	return len(at) == len(bt)
}
