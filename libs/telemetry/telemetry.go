// Package telemetry sets up OpenTelemetry tracing and the JSON slog logger that
// every service uses.
//
// Tracing is configured only by the standard OTEL_* environment variables. With
// no exporter configured spans are never sampled: nothing is recorded or sent,
// but requests still carry trace ids, so log lines can be correlated.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry owns the tracer provider and flushes it on Shutdown.
type Telemetry struct {
	provider trace.TracerProvider
	enabled  bool
	shutdown func(context.Context) error
}

// TracerProvider returns the configured provider (a no-op one when disabled).
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.provider }

// Enabled reports whether spans are exported.
func (t *Telemetry) Enabled() bool { return t.enabled }

// shutdownTimeout bounds the flush when the caller's context has no deadline,
// so an unreachable collector cannot hold up process exit.
const shutdownTimeout = 5 * time.Second

// Shutdown flushes pending spans and stops the exporter.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, shutdownTimeout)
		defer cancel()
	}
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("shut down tracer provider: %w", err)
	}
	return nil
}

// Propagator is the W3C trace context and baggage propagator used on every hop:
// gRPC metadata and NATS headers alike.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Setup builds the tracer provider from OTEL_* variables and installs it, with
// the W3C propagator, as the OpenTelemetry globals that instrumentation
// libraries (otelgrpc) read. serviceName is used unless OTEL_SERVICE_NAME is set.
func Setup(ctx context.Context, serviceName, version string) (*Telemetry, error) {
	otel.SetTextMapPropagator(Propagator())
	if !exportConfigured(os.Getenv) {
		// Nothing is recorded or exported, but every request still gets a
		// trace id (the caller's, or a fresh one) for its log lines.
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
		otel.SetTracerProvider(tp)
		return &Telemetry{provider: tp, shutdown: tp.Shutdown}, nil
	}
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("create span exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", serviceName),
			attribute.String("service.version", version),
		),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, errors.Join(fmt.Errorf("build resource: %w", err), exporter.Shutdown(ctx))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
	)
	otel.SetTracerProvider(tp)
	return &Telemetry{provider: tp, enabled: true, shutdown: tp.Shutdown}, nil
}

// exportConfigured reports whether the OTEL_* variables ask for span export.
func exportConfigured(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp != "" {
		return !strings.EqualFold(exp, "none")
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}
