package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// Track records one event: stored once, and a repeat answered duplicate.
// field is where the caller's request holds the event's time, for the
// error that names it.
func (s *Service) Track(ctx context.Context, e domain.Event, field string) (duplicate bool, err error) {
	if err := s.cfg.Acceptance.Check(e, s.now(), field); err != nil {
		return false, err
	}
	duplicate, err = s.d.Events.Insert(ctx, e)
	if err != nil {
		return false, fmt.Errorf("record event %s: %w", e.ID, err)
	}
	return duplicate, nil
}

// Rejected is one streamed event that was not recorded.
type Rejected struct {
	Index   int64
	EventID string
	Reason  string
}

// maxRejectedListed bounds the rejections an ingest lists; it counts them all.
const maxRejectedListed = 1000

// Ingest is one stream of events being recorded: events are checked as
// they come and written in batches, up to StreamWrites batches at once
// while the next fills, and counted. It is not safe for concurrent use,
// and the caller ends it with Close.
type Ingest struct {
	s     *Service
	batch []domain.Event
	// batchBytes is about how much memory the batch's events hold.
	batchBytes int
	// writing holds the answers of the batches being written, oldest first.
	writing []chan written
	// spare holds written batches' buffers, for the next batches.
	spare [][]domain.Event
	// seen counts the events offered, the rejected included, against the
	// stream's cap.
	seen int64

	// Accepted counts events recorded (duplicates of recorded events
	// included), Duplicates those that had been recorded before. Both
	// count written batches only.
	Accepted, Duplicates int64
	// Rejected lists the first rejections; RejectedCount counts all.
	Rejected      []Rejected
	RejectedCount int64
}

// written is the outcome of writing one batch.
type written struct {
	batch      []domain.Event
	duplicates int
	err        error
}

// NewIngest starts a stream of events.
func (s *Service) NewIngest() *Ingest {
	return &Ingest{s: s, batch: make([]domain.Event, 0, s.cfg.StreamBatchSize)}
}

// errCap is what Add and Reject return once the stream has sent as many
// events as one stream may; Capped turns it into the stream's answer.
var errCap = errors.New("stream cap reached")

// Reject records that the event at index was not recorded, and why.
func (in *Ingest) Reject(index int64, eventID, reason string) error {
	if err := in.take(); err != nil {
		return err
	}
	in.RejectedCount++
	if len(in.Rejected) < maxRejectedListed {
		in.Rejected = append(in.Rejected, Rejected{Index: index, EventID: eventID, Reason: reason})
	}
	return nil
}

// Add checks the event at index and queues it, handing the batch to the
// writer when it is full. An event the rules refuse is rejected, not an
// error; the error is a failed write or the stream's cap (see Capped).
func (in *Ingest) Add(ctx context.Context, index int64, e domain.Event) error {
	if err := in.s.cfg.Acceptance.Check(e, in.s.now(), "occurred_at"); err != nil {
		reason := err.Error()
		if ae, ok := apperr.From(err); ok && len(ae.FieldViolations) > 0 {
			reason = ae.FieldViolations[0].Field + ": " + ae.FieldViolations[0].Description
		}
		return in.Reject(index, e.ID.String(), reason)
	}
	if err := in.take(); err != nil {
		return err
	}
	in.batch = append(in.batch, e)
	in.batchBytes += e.Size()
	if len(in.batch) >= in.s.cfg.StreamBatchSize || in.batchBytes >= in.s.cfg.StreamBatchBytes {
		return in.Flush(ctx)
	}
	return nil
}

// take counts one event against the stream's cap.
func (in *Ingest) take() error {
	if limit := in.s.cfg.StreamMaxEvents; limit > 0 && in.seen >= limit {
		return errCap
	}
	in.seen++
	return nil
}

// Capped turns an error of Add or Reject into the error the stream ends
// with. Over the cap it first writes what is queued, so that the answer,
// RESOURCE_EXHAUSTED, can say how many events were stored.
func (in *Ingest) Capped(ctx context.Context, err error) error {
	if !errors.Is(err, errCap) {
		return err
	}
	if ferr := in.Finish(ctx); ferr != nil {
		return ferr
	}
	return apperr.ResourceExhausted(fmt.Sprintf(
		"stream cap of %d events reached: the first %d events were read and %d of them accepted and stored; send the rest in a new stream",
		in.s.cfg.StreamMaxEvents, in.seen, in.Accepted)).WithReason("STREAM_CAP_REACHED")
}

// Flush hands the queued events to a writer. While StreamWrites batches
// are being written it first waits for the oldest, so a slow database
// holds the stream back instead of piling up batches. An error is an
// earlier batch's failed write.
func (in *Ingest) Flush(ctx context.Context) error {
	for len(in.writing) >= in.s.cfg.StreamWrites {
		if err := in.waitOldest(); err != nil {
			return err
		}
	}
	if len(in.batch) == 0 {
		return nil
	}
	batch := in.batch
	in.batch, in.batchBytes = nil, 0
	if n := len(in.spare); n > 0 {
		in.batch, in.spare = in.spare[n-1][:0], in.spare[:n-1]
	} else {
		in.batch = make([]domain.Event, 0, in.s.cfg.StreamBatchSize)
	}
	done := make(chan written, 1)
	in.writing = append(in.writing, done)
	go func() {
		events, repeats := domain.Dedupe(batch)
		stored, err := in.s.d.Events.InsertBatch(ctx, events)
		if err != nil {
			err = fmt.Errorf("record %d streamed events: %w", len(events), err)
		}
		done <- written{batch: batch, duplicates: repeats + len(events) - stored, err: err}
	}()
	return nil
}

// Finish writes every queued event and waits until they are stored: once
// it returns nil, Accepted and Duplicates are final and every accepted
// event is stored, whatever happens to the stream afterwards.
func (in *Ingest) Finish(ctx context.Context) error {
	if err := in.Flush(ctx); err != nil {
		return err
	}
	for len(in.writing) > 0 {
		if err := in.waitOldest(); err != nil {
			return err
		}
	}
	return nil
}

// Close waits for the batches still being written, so that no write
// outlives the stream. Their outcome no longer matters: the stream has
// failed.
func (in *Ingest) Close() {
	for len(in.writing) > 0 {
		_ = in.waitOldest()
	}
}

// waitOldest waits for the oldest batch being written and counts it.
func (in *Ingest) waitOldest() error {
	w := <-in.writing[0]
	in.writing = in.writing[1:]
	if w.err != nil {
		return w.err
	}
	in.spare = append(in.spare, w.batch)
	in.Accepted += int64(len(w.batch))
	in.Duplicates += int64(w.duplicates)
	in.s.logger.Debug("streamed events written", slog.Int("batch", len(w.batch)), slog.Int("duplicates", w.duplicates))
	return nil
}
