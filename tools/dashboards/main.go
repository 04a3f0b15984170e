// Command dashboards writes Storefront's Grafana dashboards as JSON: one per
// service and an overview, built with grafana-foundation-sdk. The Helm chart
// ships them (deploy/helm/storefront/dashboards) in a ConfigMap for the
// Grafana sidecar. `make generate` runs it; `make check-generate` fails when
// the committed JSON is stale.
//
// Every query selects by the grpc_service label or by a job matching the
// service's name, so the same dashboards read the local stack's Prometheus
// (jobs catalogue, orders, analytics) and a cluster's (jobs named after the
// chart's Services).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// serverErrors are the codes that count against availability, as in the
// chart's SLO rules.
const serverErrors = "Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss"

type service struct {
	name, grpc, title string
}

func services() []service {
	return []service{
		{"catalogue", "catalogue.v1.CatalogueService", "Catalogue"},
		{"orders", "orders.v1.OrderService", "Orders"},
		{"analytics", "analytics.v1.AnalyticsService", "Analytics"},
	}
}

// boardBuilder builds the classic dashboard JSON, which Grafana's file
// provisioning and its dashboard sidecar load; the SDK marks it deprecated
// in favour of the v2 resource format, which they do not.
type boardBuilder = dashboard.DashboardBuilder //nolint:staticcheck // see above

func main() {
	out := flag.String("out", "deploy/helm/storefront/dashboards", "directory to write the dashboards to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil { //nolint:gosec // a directory of the repository
		return err
	}
	boards := map[string]*boardBuilder{"storefront-overview": overview()}
	for _, s := range services() {
		boards["storefront-"+s.name] = serviceBoard(s)
	}
	for name, b := range boards {
		d, err := b.Build()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		body, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name+".json"), append(body, '\n'), 0o644); err != nil { //nolint:gosec // shipped in the chart, read by Grafana
			return err
		}
	}
	return nil
}

// datasource is the dashboards' Prometheus, picked by the datasource variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: new("prometheus"), Uid: new("${datasource}")}
}

func board(uid, title string) *boardBuilder {
	return dashboard.NewDashboardBuilder(title). //nolint:staticcheck // classic JSON on purpose, see boardBuilder
							Uid(uid).
							Tags([]string{"storefront"}).
							Refresh("30s").
							Time("now-1h", "now").
							Timezone(common.TimeZoneBrowser).
							WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus"))
}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend)
}

func graph(title, unit string, queries ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Unit(unit).Datasource(datasource()).Height(8).Span(12)
	for _, q := range queries {
		p = p.WithTarget(q)
	}
	return p
}

func single(title, unit string, q *prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Unit(unit).Datasource(datasource()).Height(4).Span(6).WithTarget(q)
}

// rpcPanels are rate, errors and latency quantiles per method.
func rpcPanels(b *boardBuilder, s service) *boardBuilder {
	sel := fmt.Sprintf(`grpc_service=%q`, s.grpc)
	b = b.WithRow(dashboard.NewRowBuilder("RPCs")).
		WithPanel(graph("Requests by method", "reqps",
			query(fmt.Sprintf(`sum by (grpc_method) (rate(grpc_server_handled_total{%s}[$__rate_interval]))`, sel), "{{grpc_method}}"))).
		WithPanel(graph("Server errors by method and code", "reqps",
			query(fmt.Sprintf(`sum by (grpc_method, grpc_code) (rate(grpc_server_handled_total{%s,grpc_code=~%q}[$__rate_interval]))`, sel, serverErrors), "{{grpc_method}} {{grpc_code}}")))
	for _, q := range []struct {
		title string
		q     float64
	}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}} {
		b = b.WithPanel(graph("Latency "+q.title+" by method", "s",
			query(fmt.Sprintf(`histogram_quantile(%g, sum by (le, grpc_method) (rate(grpc_server_handling_seconds_bucket{%s}[$__rate_interval])))`, q.q, sel), "{{grpc_method}}")))
	}
	return b
}

func eventsPanels(b *boardBuilder, job string) *boardBuilder {
	return b.WithRow(dashboard.NewRowBuilder("Events")).
		WithPanel(graph("Outbox pending", "short",
			query(fmt.Sprintf(`sum by (instance) (storefront_outbox_pending{%s})`, job), "{{instance}}"))).
		WithPanel(graph("Outbox oldest pending event", "s",
			query(fmt.Sprintf(`max by (instance) (storefront_outbox_oldest_pending_age_seconds{%s})`, job), "{{instance}}"))).
		WithPanel(graph("Consumer lag (unacknowledged)", "short",
			query(fmt.Sprintf(`max by (consumer) (storefront_consumer_pending{%s})`, job), "{{consumer}}"))).
		WithPanel(graph("Consumer oldest unacknowledged message", "s",
			query(fmt.Sprintf(`max by (consumer) (storefront_consumer_oldest_pending_age_seconds{%s})`, job), "{{consumer}}"))).
		WithPanel(graph("Dead letters and parked outbox rows", "short",
			query(fmt.Sprintf(`sum by (consumer) (increase(storefront_consumer_dead_letters_total{%s}[$__rate_interval]))`, job), "dead-lettered {{consumer}}"),
			query(fmt.Sprintf(`sum(storefront_outbox_dead{%s})`, job), "parked in the outbox")))
}

func runtimePanels(b *boardBuilder, job string) *boardBuilder {
	return b.WithRow(dashboard.NewRowBuilder("Go runtime")).
		WithPanel(graph("CPU", "percentunit", query(fmt.Sprintf(`rate(process_cpu_seconds_total{%s}[$__rate_interval])`, job), "{{instance}}"))).
		WithPanel(graph("Resident memory", "bytes", query(fmt.Sprintf(`process_resident_memory_bytes{%s}`, job), "{{instance}}"))).
		WithPanel(graph("Goroutines", "short", query(fmt.Sprintf(`go_goroutines{%s}`, job), "{{instance}}"))).
		WithPanel(graph("GC pause p99", "s", query(fmt.Sprintf(`go_gc_duration_seconds{%s,quantile="1"}`, job), "{{instance}}")))
}

func serviceBoard(s service) *boardBuilder {
	job := fmt.Sprintf(`job=~".*%s.*"`, s.name)
	b := board("storefront-"+s.name, "Storefront / "+s.title)
	b = rpcPanels(b, s)
	switch s.name {
	case "orders":
		b = b.WithRow(dashboard.NewRowBuilder("Catalogue calls")).
			WithPanel(graph("Breaker state (0 closed, 1 half-open, 2 open)", "short",
				query(fmt.Sprintf(`max by (target) (storefront_client_breaker_state{%s})`, job), "{{target}}"))).
			WithPanel(graph("Calls refused by the breaker", "reqps",
				query(fmt.Sprintf(`sum by (target) (rate(storefront_client_breaker_rejected_total{%s}[$__rate_interval]))`, job), "{{target}}"))).
			WithPanel(graph("Orders whose reservation had ended", "short",
				query(fmt.Sprintf(`sum(increase(storefront_orders_unconfirmed_reservations_total{%s}[$__rate_interval]))`, job), "unconfirmed")))
	case "catalogue":
		b = b.WithRow(dashboard.NewRowBuilder("Stock")).
			WithPanel(graph("Unbacked orders", "short",
				query(fmt.Sprintf(`sum by (reason) (increase(storefront_catalogue_unbacked_orders_total{%s}[$__rate_interval]))`, job), "{{reason}}"))).
			WithPanel(graph("Product cache hit ratio", "percentunit",
				query(fmt.Sprintf(`sum(rate(storefront_catalogue_cache_hits_total{%s}[$__rate_interval])) / (sum(rate(storefront_catalogue_cache_hits_total{%s}[$__rate_interval])) + sum(rate(storefront_catalogue_cache_misses_total{%s}[$__rate_interval])))`, job, job, job), "hits"))).
			WithPanel(graph("Availability watchers", "short",
				query(fmt.Sprintf(`sum(storefront_catalogue_watchers_active{%s})`, job), "active")))
	case "analytics":
		b = b.WithRow(dashboard.NewRowBuilder("Ingest")).
			WithPanel(graph("Events ingested", "short",
				query(fmt.Sprintf(`sum(rate(grpc_server_msg_received_total{grpc_service=%q,grpc_method="StreamEvents"}[$__rate_interval]))`, s.grpc), "streamed"),
				query(fmt.Sprintf(`sum(rate(grpc_server_handled_total{grpc_service=%q,grpc_method="TrackEvent",grpc_code="OK"}[$__rate_interval]))`, s.grpc), "one by one")))
	}
	b = eventsPanels(b, job)
	return runtimePanels(b, job)
}

func overview() *boardBuilder {
	b := board("storefront-overview", "Storefront / Overview").WithRow(dashboard.NewRowBuilder("Services"))
	for _, s := range services() {
		sel := fmt.Sprintf(`grpc_service=%q`, s.grpc)
		b = b.WithPanel(single(s.title+" requests", "reqps",
			query(fmt.Sprintf(`sum(rate(grpc_server_handled_total{%s}[$__rate_interval]))`, sel), s.name))).
			WithPanel(single(s.title+" server errors", "percentunit",
				query(fmt.Sprintf(`sum(rate(grpc_server_handled_total{%s,grpc_code=~%q}[$__rate_interval])) / sum(rate(grpc_server_handled_total{%s}[$__rate_interval]))`, sel, serverErrors, sel), s.name))).
			WithPanel(single(s.title+" p99", "s",
				query(fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{%s,grpc_type="unary"}[$__rate_interval])))`, sel), s.name)))
	}
	return b.WithRow(dashboard.NewRowBuilder("Pipeline")).
		WithPanel(graph("Outbox pending by service", "short", query(`sum by (job) (storefront_outbox_pending)`, "{{job}}"))).
		WithPanel(graph("Consumer lag", "s", query(`max by (job, consumer) (storefront_consumer_oldest_pending_age_seconds)`, "{{job}} {{consumer}}"))).
		WithPanel(graph("Dead letters", "short", query(`sum by (job, consumer) (increase(storefront_consumer_dead_letters_total[$__rate_interval]))`, "{{job}} {{consumer}}"))).
		WithPanel(graph("Breakers (2 = open)", "short", query(`max by (job, target) (storefront_client_breaker_state)`, "{{job}} → {{target}}"))).
		WithPanel(graph("Unbacked orders", "short",
			query(`sum(increase(storefront_catalogue_unbacked_orders_total[$__rate_interval])) + sum(increase(storefront_orders_unconfirmed_reservations_total[$__rate_interval]))`, "unbacked"))).
		WithPanel(graph("Analytics events ingested", "short",
			query(`sum(rate(grpc_server_msg_received_total{grpc_service="analytics.v1.AnalyticsService",grpc_method="StreamEvents"}[$__rate_interval]))`, "streamed")))
}
