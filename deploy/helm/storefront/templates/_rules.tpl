{{/*
The alerting and recording rules, as the groups of a Prometheus rules file.
templates/prometheusrule.yaml ships them as a PrometheusRule; the chart's
tests run promtool over them. Prometheus' own template braces are escaped
with backquoted strings.
*/}}
{{- define "storefront.rules" -}}
{{- $m := .Values.monitoring -}}
{{- $runbook := $m.runbookUrl -}}
{{- $services := dict "catalogue" "catalogue.v1.CatalogueService" "orders" "orders.v1.OrderService" "analytics" "analytics.v1.AnalyticsService" -}}
{{- $serverErrors := "Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss" -}}
{{- $windows := list "5m" "30m" "1h" "2h" "6h" "1d" "3d" -}}
groups:
  - name: storefront.slo.recording
    rules:
    {{- range $w := $windows }}
      # The share of a service's RPCs that failed on the server's side.
      - record: storefront:grpc_server_errors:ratio_rate{{ $w }}
        # A service with calls and no failures is at 0, not absent.
        expr: |
          (
            sum by (grpc_service) (rate(grpc_server_handled_total{grpc_service=~"(catalogue|orders|analytics)\\.v1\\..*",grpc_code=~"{{ $serverErrors }}"}[{{ $w }}]))
            or
            0 * sum by (grpc_service) (rate(grpc_server_handled_total{grpc_service=~"(catalogue|orders|analytics)\\.v1\\..*"}[{{ $w }}]))
          )
          /
          sum by (grpc_service) (rate(grpc_server_handled_total{grpc_service=~"(catalogue|orders|analytics)\\.v1\\..*"}[{{ $w }}]))
      # The share of a service's unary RPCs slower than the latency SLO's threshold.
      - record: storefront:grpc_server_slow:ratio_rate{{ $w }}
        expr: |
          1 - (
            sum by (grpc_service) (rate(grpc_server_handling_seconds_bucket{grpc_service=~"(catalogue|orders|analytics)\\.v1\\..*",grpc_type="unary",le="{{ $m.slo.latencyThresholdSeconds }}"}[{{ $w }}]))
            /
            sum by (grpc_service) (rate(grpc_server_handling_seconds_count{grpc_service=~"(catalogue|orders|analytics)\\.v1\\..*",grpc_type="unary"}[{{ $w }}]))
          )
    {{- end }}
  - name: storefront.slo.alerts
    rules:
    {{- range $svc, $grpc := $services }}
    {{- $slo := index $m.slo.services $svc }}
    {{- range $kind, $record := dict "availability" "errors" "latency" "slow" }}
    {{- $target := ternary $slo.availability $slo.latency (eq $kind "availability") }}
    {{- $budget := divf (subf 100.0 (float64 $target)) 100.0 | printf "%.6f" }}
    {{- $sel := printf "{grpc_service=%q}" $grpc }}
    {{- $r := printf "storefront:grpc_server_%s:ratio_rate" $record }}
      # {{ $svc }} {{ $kind }}, SLO {{ $target }}%: multi-window, multi-burn-rate (page: 2% of the 30-day budget in 1h or 5% in 6h; ticket: 10% in 3d or 10% in 1d).
      - alert: Storefront{{ title $kind }}BudgetBurnFast
        expr: |
          ({{ $r }}1h{{ $sel }} > (14.4 * {{ $budget }}) and {{ $r }}5m{{ $sel }} > (14.4 * {{ $budget }}))
          or
          ({{ $r }}6h{{ $sel }} > (6 * {{ $budget }}) and {{ $r }}30m{{ $sel }} > (6 * {{ $budget }}))
        for: 2m
        labels:
          severity: page
          service: {{ $svc }}
          slo: {{ $kind }}
        annotations:
          summary: {{ printf "%s is burning its %s error budget fast" $svc $kind | quote }}
          description: {{ printf "%s: %s is {{ $value | humanizePercentage }} over the alert's window, against an SLO of %v%%." $svc (ternary "the share of failed RPCs" "the share of slow RPCs" (eq $kind "availability")) $target | quote }}
          runbook_url: {{ printf "%s#slo-burn" $runbook }}
      - alert: Storefront{{ title $kind }}BudgetBurnSlow
        expr: |
          ({{ $r }}1d{{ $sel }} > (3 * {{ $budget }}) and {{ $r }}2h{{ $sel }} > (3 * {{ $budget }}))
          or
          ({{ $r }}3d{{ $sel }} > (1 * {{ $budget }}) and {{ $r }}6h{{ $sel }} > (1 * {{ $budget }}))
        for: 15m
        labels:
          severity: ticket
          service: {{ $svc }}
          slo: {{ $kind }}
        annotations:
          summary: {{ printf "%s is burning its %s error budget" $svc $kind | quote }}
          description: {{ printf "%s: the %s budget of an SLO of %v%% will be gone before the 30 days are." $svc $kind $target | quote }}
          runbook_url: {{ printf "%s#slo-burn" $runbook }}
    {{- end }}
    {{- end }}
  - name: storefront.components
    rules:
      - alert: StorefrontOutboxStuck
        expr: max by (job, instance) (storefront_outbox_oldest_pending_age_seconds) > {{ $m.alerts.outboxAgeSeconds }}
        for: 5m
        labels:
          severity: page
        annotations:
          summary: "Events are not leaving an outbox"
          description: {{ `"{{ $labels.job }} {{ $labels.instance }}: the oldest unpublished event is {{ $value | humanizeDuration }} old."` }}
          runbook_url: {{ printf "%s#outbox-stuck" $runbook }}
      - alert: StorefrontDeadLetters
        expr: sum by (job, consumer) (increase(storefront_consumer_dead_letters_total[15m])) > 0 or max by (job) (storefront_outbox_dead) > 0
        labels:
          severity: ticket
        annotations:
          summary: "Events were dead-lettered or parked"
          description: {{ `"{{ $labels.job }}{{ with $labels.consumer }} {{ . }}{{ end }}: events were set aside (dead letters, or outbox rows parked) and need someone to look at them."` }}
          runbook_url: {{ printf "%s#dead-letters" $runbook }}
      - alert: StorefrontConsumerLag
        expr: max by (job, consumer) (storefront_consumer_oldest_pending_age_seconds) > {{ $m.alerts.consumerLagSeconds }}
        for: 10m
        labels:
          severity: page
        annotations:
          summary: "A consumer is falling behind"
          description: {{ `"{{ $labels.job }} {{ $labels.consumer }}: the oldest unacknowledged message waited {{ $value | humanizeDuration }}."` }}
          runbook_url: {{ printf "%s#consumer-lag" $runbook }}
      - alert: StorefrontBreakerOpen
        expr: max by (job, target) (storefront_client_breaker_state) == 2
        for: 1m
        labels:
          severity: page
        annotations:
          summary: "A client's circuit breaker is open"
          description: {{ `"{{ $labels.job }} fails its calls to {{ $labels.target }} at once: the target failed most of its recent calls."` }}
          runbook_url: {{ printf "%s#breaker-open" $runbook }}
      - alert: StorefrontUnbackedOrders
        expr: sum by (job) (increase(storefront_catalogue_unbacked_orders_total[15m])) > 0 or sum by (job) (increase(storefront_orders_unconfirmed_reservations_total[15m])) > 0
        labels:
          severity: page
        annotations:
          summary: "Orders were placed without stock held for them"
          description: {{ `"{{ $labels.job }}: orders placed in the last 15 minutes lost their reservation; they may be oversold."` }}
          runbook_url: {{ printf "%s#unbacked-orders" $runbook }}
{{- end -}}
