package service

import (
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// Set at link time by the image build (tools/images/services.sh):
//
//	-ldflags "-X github.com/storefront-go/storefront/libs/service.version=v1.2.3 ..."
//
// They are package variables because -X can set nothing else; nothing
// assigns them at run time.
var (
	version   = "dev"
	commit    = "unknown" //nolint:gochecknoglobals // set by -ldflags -X
	buildTime = "unknown" //nolint:gochecknoglobals // set by -ldflags -X
)

// BuildInfoMetric is the name of the gauge that carries the build in labels.
const BuildInfoMetric = "storefront_build_info"

// Build describes the running binary.
type Build struct {
	Version   string
	Commit    string
	BuildTime string
	GoVersion string
}

// BuildInfo returns what the image build stamped into this binary.
func BuildInfo() Build {
	return Build{Version: version, Commit: commit, BuildTime: buildTime, GoVersion: runtime.Version()}
}

// String is the line `<service> version` prints after the service name.
func (b Build) String() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s)", b.Version, b.Commit, b.BuildTime, b.GoVersion)
}

// registerBuildInfo exports b as a gauge fixed at 1, the usual way to join
// the build to any other series of the same job.
func registerBuildInfo(reg prometheus.Registerer, service string, b Build) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: BuildInfoMetric,
		Help: "Build of the running binary; always 1.",
		ConstLabels: prometheus.Labels{
			"service":    service,
			"version":    b.Version,
			"commit":     b.Commit,
			"build_time": b.BuildTime,
			"goversion":  b.GoVersion,
		},
	})
	g.Set(1)
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("register %s: %w", BuildInfoMetric, err)
	}
	return nil
}
