package app

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/jobs"
	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// ProductStats answers one product's figures over [start, end), widened
// to whole minutes; it returns the window answered.
func (s *Service) ProductStats(ctx context.Context, id uuid.UUID, start, end time.Time) (domain.ProductStats, domain.Window, error) {
	w, err := domain.NewWindow(start, end)
	if err != nil {
		return domain.ProductStats{}, domain.Window{}, err
	}
	st, err := s.d.Stats.Product(ctx, id, w)
	if err != nil {
		return domain.ProductStats{}, domain.Window{}, fmt.Errorf("stats of product %s: %w", id, err)
	}
	return st, w, nil
}

// TopProducts ranks the products with a non-zero metric over [start, end),
// widened to whole minutes, highest first and ties by product id.
func (s *Service) TopProducts(ctx context.Context, m domain.Metric, currency string, start, end time.Time, limit int) ([]domain.ProductStats, domain.Window, error) {
	w, err := domain.NewWindow(start, end)
	if err != nil {
		return nil, domain.Window{}, err
	}
	top, err := s.d.Stats.Top(ctx, m, currency, w, limit)
	if err != nil {
		return nil, domain.Window{}, fmt.Errorf("top products: %w", err)
	}
	return top, w, nil
}

// MaintainPartitions creates the raw events' partitions from the oldest
// day an event may still have, through PartitionsAhead days ahead, and
// drops the partitions older than the retention. The host runs it at
// start and then on a schedule; it returns how many partitions it changed.
func (s *Service) MaintainPartitions(ctx context.Context) (int, error) {
	now := s.now().UTC()
	oldest := now.Add(-s.cfg.Acceptance.Retention)
	created, err := s.d.Partitions.Ensure(ctx, oldest, now.AddDate(0, 0, s.cfg.PartitionsAhead))
	if err != nil {
		return created, fmt.Errorf("create event partitions: %w", err)
	}
	dropped, err := s.d.Partitions.DropBefore(ctx, oldest)
	if err != nil {
		return created + dropped, fmt.Errorf("drop expired event partitions: %w", err)
	}
	return created + dropped, nil
}

// FoldCounts moves the ingested events' pending counter deltas into the
// counters, a bounded number per pass; the host runs it every second or
// so. It keeps the pending deltas, which every statistics read scans,
// few.
func (s *Service) FoldCounts(ctx context.Context) (int, error) {
	// Each delta row holds one write's events (up to a stream batch).
	const rowsPerStep, maxSteps = 50, 40
	n, err := jobs.Drain(ctx, rowsPerStep, maxSteps, s.d.Events.FoldCounts)
	if err != nil {
		return n, fmt.Errorf("fold counter deltas: %w", err)
	}
	return n, nil
}
