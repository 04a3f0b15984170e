package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// span is one exported span, flattened for assertions.
type span struct {
	service  string
	traceID  string
	spanID   string
	parentID string
	name     string
	kind     tracepb.Span_SpanKind
	attrs    map[string]string
	start    time.Time
	end      time.Time
}

func (s span) duration() time.Duration { return s.end.Sub(s.start) }

func (s span) String() string {
	return fmt.Sprintf("%s %s %q (%s, parent %s)", s.service, s.kind, s.name, s.spanID, s.parentID)
}

// otlpReceiver is an OTLP/gRPC trace collector in the test process. The
// services export to it over the private network's gateway address.
type otlpReceiver struct {
	collectortracepb.UnimplementedTraceServiceServer
	srv  *grpc.Server
	addr string

	mu    sync.Mutex
	spans []span
}

// startOTLP listens on host (an address of this machine that the
// containers can reach) on a free port.
func startOTLP(ctx context.Context, host string) (*otlpReceiver, error) {
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("otlp receiver: %w", err)
	}
	r := &otlpReceiver{srv: grpc.NewServer(), addr: lis.Addr().String()}
	collectortracepb.RegisterTraceServiceServer(r.srv, r)
	go func() { _ = r.srv.Serve(lis) }()
	return r, nil
}

func (r *otlpReceiver) stop() { r.srv.Stop() }

// Export stores every span of the request.
func (r *otlpReceiver) Export(_ context.Context, req *collectortracepb.ExportTraceServiceRequest) (*collectortracepb.ExportTraceServiceResponse, error) {
	var got []span
	for _, rs := range req.GetResourceSpans() {
		service := attrsOf(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, span{
					service:  service,
					traceID:  hex.EncodeToString(s.GetTraceId()),
					spanID:   hex.EncodeToString(s.GetSpanId()),
					parentID: hex.EncodeToString(s.GetParentSpanId()),
					name:     s.GetName(),
					kind:     s.GetKind(),
					attrs:    attrsOf(s.GetAttributes()),
					start:    time.Unix(0, int64(s.GetStartTimeUnixNano())),
					end:      time.Unix(0, int64(s.GetEndTimeUnixNano())),
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	return &collectortracepb.ExportTraceServiceResponse{}, nil
}

func attrsOf(kvs []*commonpb.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			out[kv.GetKey()] = v.GetStringValue()
		default:
			out[kv.GetKey()] = strings.Trim(fmt.Sprint(v.GetValue()), "&{}")
		}
	}
	return out
}

// find returns the spans that match.
func (r *otlpReceiver) find(match func(span) bool) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, s := range r.spans {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// trace returns the spans of one trace.
func (r *otlpReceiver) trace(traceID string) []span {
	return r.find(func(s span) bool { return s.traceID == traceID })
}

// describe lists a trace's spans, one per line, for failure messages.
func describe(spans []span) string {
	lines := make([]string, 0, len(spans))
	for _, s := range spans {
		lines = append(lines, "  "+s.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
