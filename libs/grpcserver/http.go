package grpcserver

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/interceptor"
)

// The HTTP port is bounded like the gRPC port, before anything is buffered
// or decompressed: one message, compressed or not, is at most
// MaxRecvMsgBytes; a unary request's body must arrive within
// HTTPReadTimeout and its answer leave within HTTPWriteTimeout; headers,
// idle connections and HTTP/2 streams per connection have limits of their
// own.

// rpcHandler is the handler of every RPC path on the HTTP port: Connect,
// gRPC-Web and gRPC, transcoded onto the grpc.Server with its interceptors.
func (s *Server) rpcHandler() (http.Handler, error) {
	limit := uint32(max(s.cfg.MaxRecvMsgBytes, 1)) //nolint:gosec // a positive int from config
	transcoder, err := vanguardgrpc.NewTranscoder(s.grpc,
		// The gRPC server is in this process: compressing towards it only
		// costs CPU (and vanguard sends an empty message compressed to
		// nothing, which grpc-go can't inflate).
		vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(limit), vanguard.WithNoTargetCompression()),
		vanguard.WithCodec(func(res vanguard.TypeResolver) vanguard.Codec {
			c := vanguard.NewJSONCodec(res)
			c.UnmarshalOptions.DiscardUnknown = false
			return strictJSON{c}
		}),
		vanguard.WithCodec(func(res vanguard.TypeResolver) vanguard.Codec { return protoCodec{vanguard.NewProtoCodec(res)} }),
		vanguard.WithCompression(vanguard.CompressionGzip,
			func() connect.Compressor { return gzip.NewWriter(io.Discard) },
			func() connect.Decompressor { return &boundedGzip{limit: int64(limit)} },
		),
	)
	if err != nil {
		return nil, fmt.Errorf("build HTTP transcoder: %w", err)
	}
	return connectByDefault(procedures(s.grpc), s.unaryDeadlines(transcoder)), nil
}

// procedures lists the full method paths the server serves.
func procedures(gs *grpc.Server) map[string]bool {
	out := map[string]bool{}
	for svc, info := range gs.GetServiceInfo() {
		for _, m := range info.Methods {
			out["/"+svc+"/"+m.Name] = true
		}
	}
	return out
}

// connectByDefault serves a POST to a known procedure with a Connect unary
// content type (application/json or application/proto) as Connect, also
// without a Connect-Protocol-Version header, as connect-go's own handlers
// do: `curl -H 'Content-Type: application/json' -d '{...}'` just works. The
// transcoder would otherwise take such a POST for REST and answer 404.
func connectByDefault(known map[string]bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("Connect-Protocol-Version") == "" && known[r.URL.Path] {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && (mt == "application/json" || mt == "application/proto") {
				r.Header.Set("Connect-Protocol-Version", "1")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isStream reports whether r opens a stream (gRPC, gRPC-Web or Connect
// streaming), whose body may rightly take longer than a unary request's.
func isStream(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	return mt == "application/grpc" || strings.HasPrefix(mt, "application/grpc+") ||
		strings.HasPrefix(mt, "application/grpc-web") ||
		strings.HasPrefix(mt, "application/connect+")
}

// unaryDeadlines gives a unary request HTTPReadTimeout to deliver its body
// and HTTPWriteTimeout to receive its answer, so a client that sends a body
// a byte a second is cut off. Streams are bounded by the stream limits
// instead.
func (s *Server) unaryDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStream(r) {
			rc := http.NewResponseController(w)
			now := time.Now()
			if s.cfg.HTTPReadTimeout > 0 {
				_ = rc.SetReadDeadline(now.Add(s.cfg.HTTPReadTimeout)) // unsupported only by test recorders
			}
			if s.cfg.HTTPWriteTimeout > 0 {
				_ = rc.SetWriteDeadline(now.Add(s.cfg.HTTPWriteTimeout))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// httpServer is the HTTP port's server with its connection limits.
func (s *Server) httpServer(handler http.Handler, protocols *http.Protocols) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       s.cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    s.cfg.HTTPMaxHeaderBytes,
		Protocols:         protocols,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: int(s.cfg.MaxConcurrentStreams),
		},
		TLSConfig: s.tls,
		ErrorLog:  s.errorLog(),
	}
}

// boundedGzip is a gzip decompressor that fails with RESOURCE_EXHAUSTED as
// soon as the inflated message passes limit, so a small body that inflates
// to gigabytes costs at most limit bytes.
type boundedGzip struct {
	limit int64
	read  int64
	zr    *gzip.Reader
}

// Read inflates into p, counting against the limit.
func (g *boundedGzip) Read(p []byte) (int, error) {
	if g.zr == nil {
		return 0, io.EOF
	}
	if room := g.limit - g.read + 1; int64(len(p)) > room {
		p = p[:room] // read one byte past the limit to tell "at" from "over"
	}
	n, err := g.zr.Read(p)
	g.read += int64(n)
	if g.read > g.limit {
		return 0, connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("message larger than %d bytes after decompression", g.limit))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("inflate request: %w", err))
	}
	return n, err //nolint:wrapcheck // io.Reader contract: io.EOF must pass as is
}

// Reset starts on a new compressed message.
func (g *boundedGzip) Reset(r io.Reader) error {
	g.read = 0
	if g.zr == nil {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("read gzip header: %w", err))
		}
		g.zr = zr
		return nil
	}
	if err := g.zr.Reset(r); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("read gzip header: %w", err))
	}
	return nil
}

// Close releases the current message.
func (g *boundedGzip) Close() error {
	if g.zr == nil {
		return nil
	}
	if err := g.zr.Close(); err != nil {
		return fmt.Errorf("close gzip reader: %w", err)
	}
	return nil
}

// decodeErrors makes a request body the codec cannot decode the caller's
// fault (INVALID_ARGUMENT) instead of vanguard's UNKNOWN.
func decodeErrors(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*connect.Error](err); ok {
		return err
	}
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("decode request: %w", err))
}

// strictJSON is vanguard's JSON codec refusing unknown fields, as protojson
// and connect-go do by default: a misspelt field is an error, not silently
// dropped.
type strictJSON struct{ *vanguard.JSONCodec }

func (c strictJSON) Unmarshal(data []byte, msg proto.Message) error {
	return decodeErrors(c.JSONCodec.Unmarshal(data, msg))
}

// protoCodec is vanguard's binary codec with decode errors as
// INVALID_ARGUMENT.
type protoCodec struct{ *vanguard.ProtoCodec }

func (c protoCodec) Unmarshal(data []byte, msg proto.Message) error {
	return decodeErrors(c.ProtoCodec.Unmarshal(data, msg))
}

// grpcCodec is the gRPC port's codec. A request that does not decode is
// passed on empty and marked (interceptor.MarkUndecodable), so the
// interceptor chain answers INVALID_ARGUMENT with the cause; grpc-go would
// answer INTERNAL, which reads as a server fault.
type grpcCodec struct{ encoding.CodecV2 }

func (c grpcCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err //nolint:wrapcheck // grpc-go reports it as it is
	}
	interceptor.MarkUndecodable(m, err)
	return nil
}

// protoCodecName is grpc-go's registered protobuf codec.
const protoCodecName = "proto"
