package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/interceptor"
	"github.com/storefront-go/storefront/libs/testenv"
)

// edgeMethod is one unary RPC and where it is served.
type edgeMethod struct {
	svc  *service
	desc protoreflect.MethodDescriptor
}

func (m edgeMethod) path() string {
	return "/" + string(m.desc.Parent().FullName()) + "/" + string(m.desc.Name())
}

// unaryMethods lists every unary RPC of the three services.
func unaryMethods(st *stack) []edgeMethod {
	files := []struct {
		svc *service
		fd  protoreflect.FileDescriptor
	}{
		{st.catalogue, cataloguev1.File_catalogue_v1_catalogue_proto},
		{st.orders, ordersv1.File_orders_v1_orders_proto},
		{st.analytics, analyticsv1.File_analytics_v1_analytics_proto},
	}
	var out []edgeMethod
	for _, f := range files {
		for i := range f.fd.Services().Len() {
			ms := f.fd.Services().Get(i).Methods()
			for j := range ms.Len() {
				if m := ms.Get(j); !m.IsStreamingClient() && !m.IsStreamingServer() {
					out = append(out, edgeMethod{svc: f.svc, desc: m})
				}
			}
		}
	}
	return out
}

// firstField returns the request's first field of kind, or nil.
func firstField(md protoreflect.MessageDescriptor, kinds ...protoreflect.Kind) protoreflect.FieldDescriptor {
	fs := md.Fields()
	for i := range fs.Len() {
		f := fs.Get(i)
		if f.Cardinality() == protoreflect.Repeated || f.ContainingOneof() != nil && !f.HasOptionalKeyword() {
			continue
		}
		for _, k := range kinds {
			if f.Kind() == k {
				return f
			}
		}
	}
	return nil
}

// edgeCase is one bad request, as JSON and as protobuf bytes, with the
// code it must get. A nil want means "whatever validation says".
type edgeCase struct {
	name string
	json []byte
	wire []byte
	// want is the code both protocols must return; validated cases take
	// the code from protovalidate's verdict on msg instead.
	want *codes.Code
	msg  *dynamicpb.Message
}

const oversize = 5 << 20 // over GRPC_MAX_RECV_BYTES (4 MiB)

func edgeCases(md protoreflect.MessageDescriptor) []edgeCase {
	empty := dynamicpb.NewMessage(md)
	cases := []edgeCase{
		{name: "empty", json: []byte(`{}`), wire: nil, msg: empty},
		{name: "malformed", json: []byte(`{"a":`), wire: []byte{0xff, 0xff, 0xff, 0xff}, want: new(codes.InvalidArgument)},
		{name: "oversized", json: []byte(`{"x":"` + strings.Repeat("a", oversize) + `"}`),
			wire: protowire.AppendBytes(protowire.AppendTag(nil, 9999, protowire.BytesType), bytes.Repeat([]byte("a"), oversize)), want: new(codes.ResourceExhausted)},
	}
	// Unknown fields: JSON must name known fields; binary protobuf keeps
	// unknown fields by design (newer clients), so there it is "empty".
	cases = append(cases, edgeCase{name: "unknown field", json: []byte(`{"noSuchField":1}`), want: new(codes.InvalidArgument)},
		edgeCase{name: "unknown field (binary)", wire: protowire.AppendVarint(protowire.AppendTag(nil, 9999, protowire.VarintType), 1), msg: empty})
	if f := firstField(md, protoreflect.StringKind); f != nil {
		bad := []byte{'o', 'k', 0xff, 0xfe}
		cases = append(cases, edgeCase{name: "malformed UTF-8 in " + string(f.Name()),
			json: append(append([]byte(`{"`+f.JSONName()+`":"`), bad...), `"}`...),
			wire: protowire.AppendBytes(protowire.AppendTag(nil, f.Number(), protowire.BytesType), bad),
			want: new(codes.InvalidArgument)})
	}
	if f := firstField(md, protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind); f != nil {
		m := dynamicpb.NewMessage(md)
		var v protoreflect.Value
		if f.Kind() == protoreflect.Int32Kind || f.Kind() == protoreflect.Sint32Kind {
			v = protoreflect.ValueOfInt32(-1)
		} else {
			v = protoreflect.ValueOfInt64(-1)
		}
		m.Set(f, v)
		cases = append(cases, edgeCase{name: "negative " + string(f.Name()), json: []byte(`{"` + f.JSONName() + `":-1}`), wire: mustMarshal(m), msg: m})
	}
	if f := firstField(md, protoreflect.EnumKind); f != nil {
		m := dynamicpb.NewMessage(md)
		m.Set(f, protoreflect.ValueOfEnum(999))
		cases = append(cases, edgeCase{name: "unknown enum " + string(f.Name()), json: []byte(`{"` + f.JSONName() + `":999}`), wire: mustMarshal(m), msg: m})
	}
	return cases
}

func mustMarshal(m *dynamicpb.Message) []byte {
	b, err := protoMarshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// expected is the code a case must get: its fixed one, or INVALID_ARGUMENT
// when protovalidate rejects its message (nil: anything but a server fault).
func expected(v *interceptor.Validator, c edgeCase) *codes.Code {
	if c.want != nil {
		return c.want
	}
	if err := v.Validate(c.msg); err != nil {
		return new(codes.InvalidArgument)
	}
	return nil
}

func acceptable(want *codes.Code, got codes.Code) bool {
	if want != nil {
		return got == *want
	}
	// Valid as far as the contract says: the handler may still refuse
	// (NOT_FOUND, FAILED_PRECONDITION...), but never with a server fault.
	return got != codes.Internal && got != codes.Unknown && got != codes.Unavailable && got != codes.DataLoss
}

// connectCall sends body over Connect JSON and returns the Connect code.
func connectCall(ctx context.Context, hostPort, path, token string, body []byte, protocolHeader, gzipped bool) (codes.Code, string, error) {
	var rd io.Reader = bytes.NewReader(body)
	if gzipped {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(body); err != nil {
			return 0, "", err
		}
		if err := zw.Close(); err != nil {
			return 0, "", err
		}
		rd = &buf
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+hostPort+path, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if protocolHeader {
		req.Header.Set("Connect-Protocol-Version", "1")
	}
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode == http.StatusOK {
		return codes.OK, "", nil
	}
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return 0, "", fmt.Errorf("HTTP %d, not a Connect error: %.200s", resp.StatusCode, raw)
	}
	return connectCode(e.Code), e.Message, nil
}

// connectCode maps Connect's snake_case code names to gRPC codes.
func connectCode(name string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if toSnake(c.String()) == name {
			return c
		}
	}
	return codes.Unknown
}

func toSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Scenario 10: every unary RPC gets empty, malformed, oversized,
// unknown-field, malformed-UTF-8, negative and unknown-enum values over
// gRPC (plain and gzip) and Connect JSON (with and without
// Connect-Protocol-Version, plain and gzip). The right code comes back
// every time, and the services stay healthy with bounded memory.
func TestBadInputAtTheEdge(t *testing.T) {
	st := needStack(t)
	v, err := interceptor.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	token := st.token(t, "edge", "admin", "customer", "analyst", "service")
	conns := map[string]*grpc.ClientConn{}
	for _, svc := range st.services() {
		conns[svc.name] = dial(t, svc.grpc)
	}
	idle := map[string]uint64{}
	for _, svc := range st.services() {
		idle[svc.name] = memoryOf(t, svc)
	}
	// Two passes: the first warms every path up (pools, caches, compiled
	// rules); the second must not grow memory further.
	var calls, wrong int
	afterFirst := map[string]uint64{}
	for pass := range 2 {
		if pass == 1 {
			for _, svc := range st.services() {
				afterFirst[svc.name] = memoryOf(t, svc)
			}
		}
		c, w := badInputPass(t, st, v, token, conns)
		calls, wrong = calls+c, wrong+w
	}
	for _, svc := range st.services() {
		resp, err := healthpb.NewHealthClient(conns[svc.name]).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s after the bad input: %v %v", svc.name, resp.GetStatus(), err)
		}
		after := memoryOf(t, svc)
		growth := int64(after) - int64(afterFirst[svc.name])
		if growth > 32<<20 {
			t.Errorf("%s memory grew %d MiB over the second pass of bad input", svc.name, growth>>20)
		}
		reportf("10 bad input", "healthy; second pass grows memory ≤ 32 MiB", "%s: SERVING after; memory %d MiB idle, %d after one pass, %d after two", svc.name, idle[svc.name]>>20, afterFirst[svc.name]>>20, after>>20)
	}
	reportf("10 bad input", "0 wrong codes", "%d calls over %d unary RPCs, %d wrong codes", calls, len(unaryMethods(st)), wrong)
}

func protoMarshal(m proto.Message) ([]byte, error) { return proto.Marshal(m) }

// memoryOf is the container's memory use as docker stats reports it,
// without the page cache.
func memoryOf(t *testing.T, svc *service) uint64 {
	t.Helper()
	res, err := dockerAPI(t).ContainerStats(t.Context(), svc.ctr.GetContainerID(), client.ContainerStatsOptions{})
	if err != nil {
		t.Fatalf("stats of %s: %v", svc.name, err)
	}
	defer func() { _ = res.Body.Close() }()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatalf("stats of %s: %v", svc.name, err)
	}
	usage := s.MemoryStats.Usage
	if cache, ok := s.MemoryStats.Stats["inactive_file"]; ok && cache < usage {
		usage -= cache
	}
	return usage
}

// gzipBomb is a gzip stream of n zero bytes (a JSON body it is not).
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range n / len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bombTargets is one public unary RPC per service to aim the bomb at.
func bombTarget(svc *service) string {
	switch svc.name {
	case "catalogue":
		return "/catalogue.v1.CatalogueService/GetProduct"
	case "orders":
		return "/orders.v1.OrderService/GetOrder"
	default:
		return "/analytics.v1.AnalyticsService/TrackEvent"
	}
}

// connectRaw posts an already gzipped body over Connect JSON.
func connectRaw(t *testing.T, hostPort, path string, gzipped []byte) (codes.Code, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+hostPort+path, bytes.NewReader(gzipped))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e); err != nil {
		return 0, "", fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	return connectCode(e.Code), e.Message, nil
}

// badInputPass sends every bad request once and returns the calls made and
// how many got a wrong code.
func badInputPass(t *testing.T, st *stack, v *interceptor.Validator, token string, conns map[string]*grpc.ClientConn) (int, int) {
	t.Helper()
	calls, wrong := 0, 0
	for _, m := range unaryMethods(st) {
		for _, c := range edgeCases(m.desc.Input()) {
			want := expected(v, c)
			check := func(how string, got codes.Code, msg string, err error) {
				calls++
				if err != nil {
					t.Errorf("%s %s %s: %v", m.path(), c.name, how, err)
					return
				}
				if !acceptable(want, got) {
					wrong++
					w := "no server fault"
					if want != nil {
						w = want.String()
					}
					t.Errorf("%s %s %s: %v %q, want %s", m.path(), c.name, how, got, msg, w)
				}
			}
			if c.json != nil {
				for _, hdr := range []bool{true, false} {
					for _, gz := range []bool{false, true} {
						ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
						got, msg, err := connectCall(ctx, m.svc.http, m.path(), token, c.json, hdr, gz)
						cancel()
						check(fmt.Sprintf("connect(header=%v,gzip=%v)", hdr, gz), got, msg, err)
					}
				}
			}
			if c.wire != nil || c.name == "empty" {
				for _, gz := range []bool{false, true} {
					opts := []grpc.CallOption{grpc.ForceCodec(testenv.RawCodec{}), bearer(token)}
					if gz {
						opts = append(opts, grpc.UseCompressor("gzip"))
					}
					ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
					in, out := c.wire, []byte(nil)
					err := conns[m.svc.name].Invoke(ctx, m.path(), &in, &out, opts...)
					cancel()
					check(fmt.Sprintf("grpc(gzip=%v)", gz), status.Code(err), status.Convert(err).Message(), nil)
				}
			}
		}
	}
	// A gzip bomb: about 64 KiB on the wire, 64 MiB inflated.
	bomb := gzipBomb(t, 64<<20)
	for _, svc := range st.services() {
		got, msg, err := connectRaw(t, svc.http, bombTarget(svc), bomb)
		calls++
		if err != nil || got != codes.ResourceExhausted {
			wrong++
			t.Errorf("%s: gzip bomb: %v %q %v, want RESOURCE_EXHAUSTED", svc.name, got, msg, err)
		}
	}
	return calls, wrong
}
