// Package load drives a call with a bounded load, in the two ways a
// benchmark needs: closed-loop (a fixed number of callers, each calling
// again as soon as its last call returns) for throughput, and open-loop (a
// fixed arrival rate, whatever the answers do) for latency that queueing
// can't hide. Every run is bounded in calls and in time.
package load

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Call is one request; seq is unique within a run, counting from 0.
type Call func(ctx context.Context, seq int64) error

// Result is what one run measured.
type Result struct {
	// Latencies are sorted. In an open-loop run each is measured from the
	// call's scheduled start, so time spent waiting to be sent counts.
	Latencies []time.Duration
	Elapsed   time.Duration
	Errors    int
	FirstErr  error
	// Dropped counts open-loop calls never sent because MaxInFlight
	// calls were already waiting.
	Dropped int
}

// Calls is how many calls were made.
func (r Result) Calls() int { return len(r.Latencies) }

// Throughput is calls per second over the run.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile (0 < p <= 100) by nearest rank.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	rank := int(p/100*float64(n) + 0.999999)
	return r.Latencies[min(max(rank, 1), n)-1]
}

// Err is nil when every call was made and passed; otherwise it says how
// many failed, wrapping the first failure, or how many were dropped.
func (r Result) Err() error {
	switch {
	case r.Errors > 0:
		return fmt.Errorf("%d of %d calls failed; first: %w", r.Errors, len(r.Latencies), r.FirstErr)
	case r.Dropped > 0:
		return fmt.Errorf("%d calls dropped: the server fell behind the arrival rate", r.Dropped)
	}
	return nil
}

// Closed runs call from concurrency callers until n calls have been made or
// maxTime has passed, whichever is first. Each call gets callTimeout.
func Closed(ctx context.Context, concurrency, n int, maxTime, callTimeout time.Duration, call Call) Result {
	var (
		next atomic.Int64
		mu   sync.Mutex
		res  Result
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(maxTime)
	start := time.Now()
	for range max(min(concurrency, n), 1) {
		wg.Go(func() {
			var lat []time.Duration
			errs, first := 0, error(nil)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				seq := next.Add(1) - 1
				if seq >= int64(n) {
					break
				}
				t0 := time.Now()
				err := once(ctx, callTimeout, call, seq)
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.add(lat, errs, first)
		})
	}
	wg.Wait()
	res.finish(start)
	return res
}

// Open starts calls at rate per second for duration, each on its own
// goroutine at its scheduled time, and waits for them all. At most
// maxInFlight calls are outstanding: a call due while that many wait is
// dropped and counted, so a server that falls behind shows up as drops
// rather than as an unbounded pile of goroutines. Latency runs from each
// call's scheduled start, so a generator that falls behind its schedule
// adds to the figures instead of hiding in them.
func Open(ctx context.Context, rate float64, duration time.Duration, maxInFlight int, callTimeout time.Duration, call Call) Result {
	var (
		mu       sync.Mutex
		res      Result
		wg       sync.WaitGroup
		inFlight atomic.Int64
	)
	total := int64(rate * duration.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for seq := range total {
		due := start.Add(time.Duration(seq) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		if inFlight.Add(1) > int64(maxInFlight) {
			inFlight.Add(-1)
			mu.Lock()
			res.Dropped++
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			defer inFlight.Add(-1)
			err := once(ctx, callTimeout, call, seq)
			took := time.Since(due)
			errs := 0
			if err != nil {
				errs = 1
			}
			mu.Lock()
			defer mu.Unlock()
			res.add([]time.Duration{took}, errs, err)
		})
	}
	wg.Wait()
	res.finish(start)
	return res
}

// add merges what one caller measured: its latencies, how many of its
// calls failed and its first failure.
func (r *Result) add(lat []time.Duration, errs int, first error) {
	r.Latencies = append(r.Latencies, lat...)
	r.Errors += errs
	if r.FirstErr == nil {
		r.FirstErr = first
	}
}

// finish closes a run that began at start.
func (r *Result) finish(start time.Time) {
	r.Elapsed = time.Since(start)
	slices.Sort(r.Latencies)
}

func once(ctx context.Context, timeout time.Duration, call Call, seq int64) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return call(ctx, seq)
}
