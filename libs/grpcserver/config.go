package grpcserver

import (
	"time"

	"github.com/storefront-go/storefront/libs/interceptor"
)

// Config holds the listener addresses, limits and shutdown timing. Every field
// has a production default; the env tags follow the Helm chart's names.
type Config struct {
	GRPCAddr  string `env:"GRPC_ADDR" envDefault:":50051"`
	HTTPAddr  string `env:"HTTP_ADDR" envDefault:":8080"`
	AdminAddr string `env:"ADMIN_ADDR" envDefault:":9090"`
	// Reflection serves gRPC server reflection (grpcurl, UIs): on in the
	// local stack and tests, off by default so production does not
	// describe its API to strangers.
	Reflection bool `env:"GRPC_REFLECTION" envDefault:"false"`
	// EnablePprof mounts /debug/pprof on the admin port.
	EnablePprof bool `env:"PPROF_ENABLED" envDefault:"false"`

	MaxRecvMsgBytes      int    `env:"GRPC_MAX_RECV_BYTES" envDefault:"4194304"`
	MaxSendMsgBytes      int    `env:"GRPC_MAX_SEND_BYTES" envDefault:"16777216"`
	MaxConcurrentStreams uint32 `env:"GRPC_MAX_CONCURRENT_STREAMS" envDefault:"1000"`
	// MaxConnectionAge makes clients reconnect, and so rebalance onto new replicas.
	MaxConnectionAge      time.Duration `env:"GRPC_MAX_CONNECTION_AGE" envDefault:"5m"`
	MaxConnectionAgeGrace time.Duration `env:"GRPC_MAX_CONNECTION_AGE_GRACE" envDefault:"30s"`
	// KeepaliveMinTime is the most frequent client ping the server tolerates.
	KeepaliveMinTime time.Duration `env:"GRPC_KEEPALIVE_MIN_TIME" envDefault:"10s"`
	// DefaultTimeout bounds unary calls that arrive without a deadline.
	DefaultTimeout time.Duration `env:"GRPC_DEFAULT_TIMEOUT" envDefault:"30s"`
	// StreamDefaultTimeout bounds streams that arrive without a deadline; 0 means none.
	StreamDefaultTimeout time.Duration `env:"GRPC_STREAM_DEFAULT_TIMEOUT" envDefault:"0s"`
	// ReadCeiling, WriteCeiling and StreamCeiling bound how long the server
	// works on a read (a NO_SIDE_EFFECTS method), on any other unary call,
	// and how long a stream lives, whatever deadline the caller sent; a
	// longer one is cut, a shorter one kept. 0 means no ceiling.
	ReadCeiling   time.Duration `env:"GRPC_READ_CEILING" envDefault:"10s"`
	WriteCeiling  time.Duration `env:"GRPC_WRITE_CEILING" envDefault:"20s"`
	StreamCeiling time.Duration `env:"GRPC_STREAM_CEILING" envDefault:"30m"`

	// MaxStreams and MaxStreamsPerMethod bound the streams open at once on
	// the replica and per method (watchers, list streams, health watches);
	// MethodStreamLimits overrides the per-method limit for single methods
	// ("catalogue.v1.CatalogueService/WatchAvailability=200,..."). A stream
	// over a limit is refused at once with RESOURCE_EXHAUSTED. 0: no limit.
	MaxStreams          int            `env:"GRPC_MAX_STREAMS" envDefault:"1000"`
	MaxStreamsPerMethod int            `env:"GRPC_MAX_STREAMS_PER_METHOD" envDefault:"500"`
	MethodStreamLimits  map[string]int `env:"GRPC_METHOD_STREAM_LIMITS" envSeparator:"," envKeyValSeparator:"="`
	// MaxInflightReads and MaxInflightWrites bound the unary reads
	// (NO_SIDE_EFFECTS methods) and other unary calls in flight, so a flood
	// of one class cannot take what the other needs. A call over a limit
	// waits up to InflightQueueWait for a slot, then gets
	// RESOURCE_EXHAUSTED. 0: no limit.
	MaxInflightReads  int           `env:"GRPC_MAX_INFLIGHT_READS" envDefault:"256"`
	MaxInflightWrites int           `env:"GRPC_MAX_INFLIGHT_WRITES" envDefault:"256"`
	InflightQueueWait time.Duration `env:"GRPC_INFLIGHT_QUEUE_WAIT" envDefault:"250ms"`

	// HTTPReadTimeout is how long a unary request on the HTTP port may take
	// to send its body; a slower client is cut off.
	HTTPReadTimeout time.Duration `env:"HTTP_READ_TIMEOUT" envDefault:"10s"`
	// HTTPWriteTimeout is how long a unary answer on the HTTP port may take,
	// handling included; keep it above GRPC_DEFAULT_TIMEOUT.
	HTTPWriteTimeout time.Duration `env:"HTTP_WRITE_TIMEOUT" envDefault:"35s"`
	// HTTPIdleTimeout closes keep-alive connections idle this long.
	HTTPIdleTimeout time.Duration `env:"HTTP_IDLE_TIMEOUT" envDefault:"2m"`
	// HTTPMaxHeaderBytes bounds the request line and headers.
	HTTPMaxHeaderBytes int `env:"HTTP_MAX_HEADER_BYTES" envDefault:"65536"`

	// ShutdownDrainDelay keeps serving after readiness fails, so load balancers
	// stop routing here before connections close.
	ShutdownDrainDelay time.Duration `env:"SHUTDOWN_DRAIN_DELAY" envDefault:"0s"`
	// ShutdownTimeout bounds GracefulStop; after it in-flight calls are cut.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`

	// CORSAllowedOrigins enables CORS on the HTTP port for these origins ("*" for any).
	CORSAllowedOrigins []string `env:"CORS_ALLOWED_ORIGINS" envSeparator:","`

	// TLS on the gRPC and HTTP ports (the admin port stays plaintext, for
	// scrapers inside the cluster): set both cert and key; add a client CA for mTLS.
	TLSCertFile     string `env:"GRPC_TLS_CERT"`
	TLSKeyFile      string `env:"GRPC_TLS_KEY"`
	TLSClientCAFile string `env:"GRPC_TLS_CLIENT_CA"`
}

// limits are the limiter's view of the concurrency settings.
func (c Config) limits() interceptor.Limits {
	return interceptor.Limits{
		Streams: c.MaxStreams, StreamsPerMethod: c.MaxStreamsPerMethod, MethodStreams: c.MethodStreamLimits,
		Reads: c.MaxInflightReads, Writes: c.MaxInflightWrites, QueueWait: c.InflightQueueWait,
	}
}

// ceilings are the interceptor's view of the ceiling settings.
func (c Config) ceilings() interceptor.Ceilings {
	return interceptor.Ceilings{Read: c.ReadCeiling, Write: c.WriteCeiling, Stream: c.StreamCeiling}
}
