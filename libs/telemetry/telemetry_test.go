package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"
)

func TestLoggerAddsTraceIDs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := NewLogger(&buf, slog.LevelInfo, "catalogue").With("component", "test")

	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(t.Context(), sc)
	logger.InfoContext(ctx, "with span")
	logger.InfoContext(t.Context(), "without span")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %s", len(lines), buf.String())
	}
	var withSpan, without map[string]any
	if err := json.Unmarshal(lines[0], &withSpan); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &without); err != nil {
		t.Fatal(err)
	}
	got := map[string]any{"trace_id": withSpan["trace_id"], "span_id": withSpan["span_id"], "service": withSpan["service"], "component": withSpan["component"]}
	want := map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "service": "catalogue", "component": "test"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decorated line mismatch (-want +got):\n%s", diff)
	}
	if _, ok := without["trace_id"]; ok {
		t.Errorf("line without span has trace_id: %s", lines[1])
	}
}

func TestExportConfigured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"exporter none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, false},
		{"console exporter", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := exportConfigured(func(k string) string { return tt.env[k] })
			if got != tt.want {
				t.Errorf("exportConfigured = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetupWithoutEndpointIsNoop(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	tel, err := Setup(t.Context(), "test", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if tel.Enabled() {
		t.Error("Enabled() = true with no exporter configured")
	}
	_, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "op")
	sc := span.SpanContext()
	span.End()
	if !sc.HasTraceID() {
		t.Error("span without an exporter has no trace id; log lines could not carry one")
	}
	if sc.IsSampled() || span.IsRecording() {
		t.Error("span without an exporter is sampled or recording")
	}
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}
