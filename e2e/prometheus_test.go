package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"go.yaml.in/yaml/v3"

	"github.com/storefront-go/storefront/libs/testenv"
)

// The Helm chart's alert rules, as the local stack's Prometheus loads them
// (make rules writes the file; the chart's tests keep it current).
const rulesFile = "../deploy/compose/prometheus/rules.yml"

// prometheusImage is built by tools/images/prometheus.sh (make test-e2e).
func prometheusImage() string {
	return envOr("STOREFRONT_PROMETHEUS_IMAGE", "storefront-local/prometheus:2.42")
}

// promQuery runs an instant query and returns its result vector.
func promQuery(t *testing.T, base, query string) []json.RawMessage {
	t.Helper()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	promGet(t, base+"/api/v1/query?query="+url.QueryEscape(query), &out)
	if out.Status != "success" {
		t.Fatalf("query %s: %s", query, out.Error)
	}
	return out.Data.Result
}

func promGet(t *testing.T, u string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
}

// metricNames returns the metrics the expressions read: identifiers that
// are not label names and carry one of the prefixes the services export
// (grpc_*, storefront_*, go_*, process_*).
func metricNames(exprs []string) []string {
	ident := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	// Label names appear in matchers and in by (...); what is left names metrics.
	labels := regexp.MustCompile(`\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	var names []string
	for _, e := range exprs {
		for _, name := range ident.FindAllString(labels.ReplaceAllString(e, " "), -1) {
			ours := strings.HasPrefix(name, "grpc_") || strings.HasPrefix(name, "storefront_") || strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")
			if ours && !strings.Contains(name, ":") && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// ruleExprs returns the rules' expressions and the names they record.
func ruleExprs(t *testing.T) (exprs, recorded []string) {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded = append(recorded, r.Record)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs, recorded
}

// dashboardsDir holds the chart's Grafana dashboards (tools/dashboards).
const dashboardsDir = "../deploy/helm/storefront/dashboards"

// dashboardExprs returns every panel query of the dashboards, with
// Grafana's $__rate_interval replaced by a window Prometheus accepts.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardsDir, err)
	}
	var exprs []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				exprs = append(exprs, strings.ReplaceAll(q.Expr, "$__rate_interval", "1m"))
			}
		}
	}
	return exprs
}

// A real Prometheus scrapes the three services and evaluates the chart's
// rules: every rule evaluates without error, every metric a rule or a
// dashboard reads exists in what the services export, every recording rule
// records, and every dashboard query runs.
func TestPrometheusFindsEveryRuleMetric(t *testing.T) {
	st := needStack(t)
	ruleQueries, recorded := ruleExprs(t)
	panelQueries := dashboardExprs(t)
	read := metricNames(append(slices.Clone(ruleQueries), panelQueries...))
	if len(read) < 15 {
		t.Fatalf("the rules and dashboards read only %v", read)
	}
	dir := t.TempDir()
	config := `global: {scrape_interval: 2s, evaluation_interval: 2s}
rule_files: [/etc/prometheus/rules.yml]
scrape_configs:
  - {job_name: catalogue, static_configs: [{targets: ["catalogue:9090"]}]}
  - {job_name: orders, static_configs: [{targets: ["orders:9090"]}]}
  - {job_name: analytics, static_configs: [{targets: ["analytics:9090"]}]}
`
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	// The container runs as nobody.
	for name, body := range map[string][]byte{"prometheus.yml": []byte(config), "rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctr, err := testcontainers.Run(t.Context(), prometheusImage(),
		testcontainers.WithLabels(e2eLabel),
		testcontainers.WithExposedPorts("9090/tcp"),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.ReadonlyRootfs = true
			hc.Tmpfs = map[string]string{"/prometheus": "uid=65534,gid=65534"}
			hc.Binds = append(hc.Binds, dir+":/etc/prometheus:ro")
		}),
		network.WithNetwork([]string{"prometheus"}, st.net),
		testcontainers.WithWaitStrategy(wait.ForMappedPort("9090/tcp")),
	)
	t.Cleanup(func() { terminate(ctr) })
	if err != nil {
		t.Fatalf("start prometheus (%s; make test-e2e builds it with tools/images/prometheus.sh): %v", prometheusImage(), err)
	}
	// The host address that reaches the container, found the way the
	// services' are, once /-/ready answers.
	hostPort, err := testenv.WaitReachable(t.Context(), ctr, "9090/tcp", func(ctx context.Context, hostPort string) error {
		return testenv.GetOK(ctx, "http://"+hostPort+"/-/ready")
	})
	if err != nil {
		t.Fatalf("prometheus: %v%s", err, logsOf(t.Context(), ctr))
	}
	endpoint := "http://" + hostPort

	eventually(t, 30*time.Second, "every service scraped", func() (bool, string) {
		up := promQuery(t, endpoint, `sum(up)`)
		return len(up) == 1 && strings.Contains(string(up[0]), `"3"`), fmt.Sprintf("sum(up) = %s", up)
	})
	type ruleState struct {
		Name           string `json:"name"`
		Health         string `json:"health"`
		LastError      string `json:"lastError"`
		LastEvaluation string `json:"lastEvaluation"`
	}
	var bad []string
	evaluated := 0
	eventually(t, 30*time.Second, "every rule evaluated", func() (bool, string) {
		var resp struct {
			Data struct {
				Groups []struct {
					Rules []ruleState `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		promGet(t, endpoint+"/api/v1/rules", &resp)
		bad, evaluated = nil, 0
		for _, g := range resp.Data.Groups {
			for _, r := range g.Rules {
				if r.Health != "ok" {
					bad = append(bad, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
					continue
				}
				evaluated++
			}
		}
		return evaluated > 0 && len(bad) == 0, fmt.Sprintf("%d rules ok, not yet: %v", evaluated, bad)
	})
	var missing []string
	for _, name := range read {
		if len(promQuery(t, endpoint, "count("+name+")")) == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("the rules or dashboards read metrics no service exports: %v", missing)
	}
	for _, q := range panelQueries {
		promQuery(t, endpoint, q) // fails the test when Prometheus refuses it
	}
	var silent []string
	eventually(t, 20*time.Second, "every recording rule records", func() (bool, string) {
		silent = nil
		for _, name := range recorded {
			if len(promQuery(t, endpoint, "count("+name+")")) == 0 {
				silent = append(silent, name)
			}
		}
		return len(silent) == 0, fmt.Sprintf("no series yet: %v", silent)
	})
	if t.Failed() {
		return
	}
	reportf("prometheus", "every rule and panel metric exported", "%d rules evaluate without error, %d recording; %d dashboard queries run; the %d metrics they read all scraped from the services", evaluated, len(recorded), len(panelQueries), len(read))
}
