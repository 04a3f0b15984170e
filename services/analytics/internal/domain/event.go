package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
)

// The event names product statistics count; every other name is stored
// and counted nowhere.
const (
	EventProductViewed = "product_viewed"
	EventAddToCart     = "add_to_cart"
)

// Event is something a client saw a user do. ID and OccurredAt together
// identify it: a repeat of an event carries both unchanged.
type Event struct {
	ID         uuid.UUID
	Name       string
	UserID     string
	OccurredAt time.Time
	// ProductID is uuid.Nil when the event is about no product.
	ProductID  uuid.UUID
	Properties map[string]string
}

// Size is about how many bytes e holds: its strings and a fixed part.
func (e Event) Size() int {
	n := 96 + len(e.Name) + len(e.UserID)
	for k, v := range e.Properties {
		n += 32 + len(k) + len(v)
	}
	return n
}

// Acceptance is how far from now an event's time may be. Raw events are
// kept for Retention, so an older one would be dropped at once; a time
// further ahead than Skew is a client clock that is wrong.
type Acceptance struct {
	Retention time.Duration
	Skew      time.Duration
}

// Check returns nil or an INVALID_ARGUMENT error naming field, the path of
// occurred_at in the caller's request.
func (a Acceptance) Check(e Event, now time.Time, field string) error {
	switch {
	case e.OccurredAt.After(now.Add(a.Skew)):
		return apperr.Invalid(field, fmt.Sprintf("is more than %s in the future (clock skew allowance)", a.Skew))
	case !e.OccurredAt.After(now.Add(-a.Retention)):
		return apperr.Invalid(field, fmt.Sprintf("is older than the raw-event retention of %s", a.Retention))
	}
	return nil
}

// Dedupe returns events without repeats of an ID, keeping the first, and
// how many it dropped.
func Dedupe(events []Event) ([]Event, int) {
	seen := make(map[uuid.UUID]struct{}, len(events))
	out := events[:0:0]
	for _, e := range events {
		if _, dup := seen[e.ID]; dup {
			continue
		}
		seen[e.ID] = struct{}{}
		out = append(out, e)
	}
	return out, len(events) - len(out)
}
