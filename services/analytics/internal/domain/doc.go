// Package domain holds the analytics model: client events and the rules for
// accepting them, the per-product counters they and the business events
// add to, time windows at minute resolution, and the product dimension. It
// does no I/O.
package domain
