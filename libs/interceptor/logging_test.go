package interceptor_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/interceptor"
)

// One line per call, with the method's fields, the peer, the deadline, the
// code and the error, at the level the code calls for.
func TestUnaryLoggingWritesOneLinePerCall(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := interceptor.UnaryLogging(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	info := &grpc.UnaryServerInfo{FullMethod: "/catalogue.v1.CatalogueService/GetProduct"}
	ctx := peer.NewContext(t.Context(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 4242}})
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	for _, answer := range []error{nil, status.Error(codes.Unavailable, "catalogue down"), status.Error(codes.Internal, "boom")} {
		if _, err := log(ctx, "req", info, func(context.Context, any) (any, error) { return "resp", answer }); err != answer { //nolint:errorlint // the same error must come back
			t.Fatalf("the interceptor changed the answer %v to %v", answer, err)
		}
	}
	lines := logLines(t, &buf)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range []struct{ code, level, err string }{{"OK", "INFO", ""}, {"Unavailable", "WARN", "catalogue down"}, {"Internal", "ERROR", "boom"}} {
		l := lines[i]
		if l["msg"] != "finished call" || l["grpc.service"] != "catalogue.v1.CatalogueService" || l["grpc.method"] != "GetProduct" ||
			l["grpc.method_type"] != "unary" || l["protocol"] != "grpc" || l["grpc.component"] != "server" || l["peer.address"] != "10.0.0.7:4242" {
			t.Errorf("line %d: %v", i, l)
		}
		if l["grpc.code"] != want.code || l["level"] != want.level {
			t.Errorf("line %d: code %v level %v, want %s %s", i, l["grpc.code"], l["level"], want.code, want.level)
		}
		if got, _ := l["grpc.error"].(string); !strings.Contains(got, want.err) || (want.err == "") != (got == "") {
			t.Errorf("line %d: grpc.error %q, want %q", i, got, want.err)
		}
		for _, k := range []string{"grpc.start_time", "grpc.request.deadline", "grpc.duration"} {
			if s, _ := l[k].(string); s == "" {
				t.Errorf("line %d lacks %s", i, k)
			}
		}
		if d, _ := l["grpc.duration"].(string); d != "" {
			if _, err := time.ParseDuration(d); err != nil {
				t.Errorf("grpc.duration %q: %v", d, err)
			}
		}
	}
}

// Below the logger's level nothing is written.
func TestUnaryLoggingHonoursTheLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := interceptor.UnaryLogging(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	info := &grpc.UnaryServerInfo{FullMethod: "/a.v1.S/M"}
	_, _ = log(t.Context(), nil, info, func(context.Context, any) (any, error) { return nil, nil })
	_, _ = log(t.Context(), nil, info, func(context.Context, any) (any, error) { return nil, status.Error(codes.Aborted, "again") })
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["grpc.code"] != "Aborted" {
		t.Errorf("at WARN: %v, want only the Aborted call", lines)
	}
}

func TestStreamLoggingNamesTheStreamType(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := interceptor.StreamLogging(slog.New(slog.NewJSONHandler(&buf, nil)))
	for _, info := range []*grpc.StreamServerInfo{
		{FullMethod: "/a.v1.S/Watch", IsServerStream: true},
		{FullMethod: "/a.v1.S/Upload", IsClientStream: true},
		{FullMethod: "/a.v1.S/Chat", IsClientStream: true, IsServerStream: true},
	} {
		_ = log(nil, &fakeStream{ctx: t.Context()}, info, func(any, grpc.ServerStream) error { return nil })
	}
	var got []string
	for _, l := range logLines(t, &buf) {
		method, _ := l["grpc.method"].(string)
		kind, _ := l["grpc.method_type"].(string)
		got = append(got, method+"="+kind)
	}
	if strings.Join(got, " ") != "Watch=server_stream Upload=client_stream Chat=bidi_stream" {
		t.Errorf("stream types %v", got)
	}
}
