// Package grpcclient dials internal gRPC services with the house defaults:
// round_robin over dns:/// targets, retries of UNAVAILABLE for methods the
// caller declares idempotent, keepalive, OpenTelemetry tracing, a deadline on
// every call and a circuit breaker per target.
//
// Interceptor order, outermost first: deadline, caller-supplied interceptors,
// circuit breaker. Retries happen below the interceptors, so the breaker sees
// one outcome per logical call and the deadline bounds all attempts together.
package grpcclient
