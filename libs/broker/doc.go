// Package broker connects to NATS and provisions the JetStream streams that
// Storefront's events travel on. It also fixes the header names events carry
// and moves W3C trace context in and out of NATS headers.
package broker
