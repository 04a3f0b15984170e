{{/* The release-and-chart prefix of every object name. */}}
{{- define "storefront.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One service's object name: dict "root" $ "svc" name. */}}
{{- define "storefront.svcname" -}}
{{- printf "%s-%s" (include "storefront.fullname" .root) .svc -}}
{{- end -}}

{{- define "storefront.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: storefront
{{- end -}}

{{/* Labels that select one service's pods: dict "root" $ "svc" name. */}}
{{- define "storefront.selector" -}}
app.kubernetes.io/name: {{ default .root.Chart.Name .root.Values.nameOverride }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .svc }}
{{- end -}}

{{/* A service's image: dict "root" $ "svc" name. */}}
{{- define "storefront.image" -}}
{{- $s := index .root.Values.services .svc -}}
{{- $repo := $s.image.repository -}}
{{- with .root.Values.image.registry }}{{ $repo = printf "%s/%s" . $repo }}{{ end -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $s.image.tag) -}}
{{- end -}}

{{/*
A service's DATABASE_URL env entry: dict "root" $ "svc" name. It comes from
the service's existing Secret, or, with devDependencies, is the in-chart
Postgres's password-less DSN.
*/}}
{{- define "storefront.databaseEnv" -}}
{{- $s := index .root.Values.services .svc -}}
- name: DATABASE_URL
{{- if .root.Values.devDependencies.enabled }}
  value: {{ printf "postgres://%s@%s-postgres:5432/%s?sslmode=disable" .svc (include "storefront.fullname" .root) .svc | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ $s.database.existingSecret }}
      key: {{ $s.database.key }}
{{- end }}
{{- end -}}

{{/* The probes of a service container: gRPC health, or with TLS on, HTTP on the plaintext admin port. */}}
{{- define "storefront.probes" -}}
{{- $ready := dict "grpc" (dict "port" 50051) -}}
{{- $live := dict "grpc" (dict "port" 50051) -}}
{{- if .Values.tls.enabled -}}
{{- $ready = dict "httpGet" (dict "path" "/readyz" "port" 9090) -}}
{{- $live = dict "httpGet" (dict "path" "/healthz" "port" 9090) -}}
{{- end -}}
startupProbe:
  {{- toYaml $live | nindent 2 }}
  periodSeconds: 2
  failureThreshold: 60
readinessProbe:
  {{- toYaml $ready | nindent 2 }}
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  {{- toYaml $live | nindent 2 }}
  periodSeconds: 10
  failureThreshold: 3
  timeoutSeconds: 3
{{- end -}}

{{- define "storefront.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ include "storefront.fullname" . }}{{- else -}}default{{- end -}}
{{- end -}}

{{/*
A service's settings, as ConfigMap data: dict "root" $ "svc" name. Secrets
(DATABASE_URL, the service token) are never here: they come from existing
Secrets.
*/}}
{{- define "storefront.config" -}}
{{- $v := .root.Values -}}
{{- $s := index $v.services .svc -}}
{{- $cfg := dict
  "GRPC_ADDR" ":50051"
  "HTTP_ADDR" ":8080"
  "ADMIN_ADDR" ":9090"
  "NATS_URL" (ternary (printf "nats://%s-nats:4222" (include "storefront.fullname" .root)) $v.nats.url $v.devDependencies.enabled)
  "NATS_STREAM_REPLICAS" (toString $v.nats.stream.replicas)
  "NATS_STREAM_MAX_AGE" $v.nats.stream.maxAge
  "NATS_STREAM_MAX_BYTES" $v.nats.stream.maxBytes
  "NATS_DUPLICATE_WINDOW" $v.nats.stream.duplicateWindow
  "AUTH_ISSUER" $v.auth.issuer
  "AUTH_AUDIENCE" $v.auth.audience
  "LOG_LEVEL" $v.logLevel
  "MIGRATE_ON_START" (ternary "false" "true" $v.migrations.enabled)
  "SHUTDOWN_DRAIN_DELAY" $v.shutdown.drainDelay
  "SHUTDOWN_TIMEOUT" $v.shutdown.timeout
-}}
{{- if $v.auth.jwksUrl -}}
{{- $_ := set $cfg "AUTH_JWKS_URL" $v.auth.jwksUrl -}}
{{- else -}}
{{- $_ := set $cfg "AUTH_JWKS_FILE" "/etc/storefront/jwks/jwks.json" -}}
{{- end -}}
{{- if $v.nats.credentials.existingSecret -}}
{{- $_ := set $cfg "NATS_CREDS_FILE" "/etc/storefront/nats/nats.creds" -}}
{{- end -}}
{{- if $v.tls.enabled -}}
{{- $_ := set $cfg "GRPC_TLS_CERT" "/etc/storefront/tls/tls.crt" -}}
{{- $_ := set $cfg "GRPC_TLS_KEY" "/etc/storefront/tls/tls.key" -}}
{{- if $v.tls.clientAuth -}}
{{- $_ := set $cfg "GRPC_TLS_CLIENT_CA" "/etc/storefront/tls/ca.crt" -}}
{{- end -}}
{{- if eq .svc "orders" -}}
{{- $_ := set $cfg "CATALOGUE_TLS_CA" "/etc/storefront/tls/ca.crt" -}}
{{- if $v.tls.clientAuth -}}
{{- $_ := set $cfg "CATALOGUE_TLS_CERT" "/etc/storefront/tls/tls.crt" -}}
{{- $_ := set $cfg "CATALOGUE_TLS_KEY" "/etc/storefront/tls/tls.key" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $v.corsAllowedOrigins -}}
{{- $_ := set $cfg "CORS_ALLOWED_ORIGINS" (join "," .) -}}
{{- end -}}
{{- if eq .svc "orders" -}}
{{- $_ := set $cfg "CATALOGUE_ADDR" (printf "dns:///%s-grpc:50051" (include "storefront.svcname" (dict "root" .root "svc" "catalogue"))) -}}
{{- $_ := set $cfg "CATALOGUE_TOKEN_FILE" "/etc/storefront/tokens/catalogue.jwt" -}}
{{- end -}}
{{- range $k, $val := $s.env -}}
{{- $_ := set $cfg $k (toString $val) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
