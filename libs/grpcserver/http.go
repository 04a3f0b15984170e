package grpcserver

import (
	"compress/gzip"
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
		vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(limit)),
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
	return n, err //nolint:wrapcheck // io.Reader contract: io.EOF must pass as is
}

// Reset starts on a new compressed message.
func (g *boundedGzip) Reset(r io.Reader) error {
	g.read = 0
	if g.zr == nil {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("read gzip header: %w", err)
		}
		g.zr = zr
		return nil
	}
	if err := g.zr.Reset(r); err != nil {
		return fmt.Errorf("read gzip header: %w", err)
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
