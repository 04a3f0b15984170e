// Package helm holds the tests of the Storefront chart in ./storefront: it
// is rendered with Helm over a matrix of values, every object is decoded
// strictly into its typed Kubernetes API struct, and the result is held to
// the rules the chart promises.
package helm

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/applyconfigurations"
	kubescheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/storefront-go/storefront/libs/config"
)

const chartDir = "storefront"

var services = []string{"analytics", "catalogue", "orders"}

// manifest is one render, decoded.
type manifest struct {
	deployments map[string]*appsv1.Deployment
	// statefulSets are the in-chart Postgres and NATS of devDependencies.
	statefulSets map[string]*appsv1.StatefulSet
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	pdbs         map[string]*policyv1.PodDisruptionBudget
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	policies     map[string]*networkingv1.NetworkPolicy
	jobs         map[string]*batchv1.Job
	pods         map[string]*corev1.Pod
	monitors     map[string]*monitoringv1.ServiceMonitor
	rules        map[string]*monitoringv1.PrometheusRule
	accounts     map[string]*corev1.ServiceAccount
	kinds        []string
}

// openAPI converts built-in objects to values typed by the schema client-go
// carries, derived from the Kubernetes OpenAPI spec of its release.
var openAPI = applyconfigurations.NewTypeConverter(kubescheme.Scheme)

// validateOpenAPI checks one rendered object, as JSON, against the
// Kubernetes OpenAPI schema: every field must be declared there with the
// type the JSON has. The Prometheus Operator's kinds are not in it; they
// are held to their Go types by decodeStrict alone.
func validateOpenAPI(raw []byte) error {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return err
	}
	if u.GroupVersionKind().Group == monitoringv1.SchemeGroupVersion.Group {
		return nil
	}
	_, err := openAPI.ObjectToTyped(u)
	return err
}

// decodeStrict decodes one object's JSON into out, refusing unknown fields.
func decodeStrict(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"tool", "helm"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stderr.Bytes(), out)
	}
	return out
}

func render(t *testing.T, sets ...string) *manifest {
	t.Helper()
	args := []string{"template", "rel", chartDir, "--namespace", "shop"}
	for _, s := range sets {
		if file, ok := strings.CutPrefix(s, "values:"); ok {
			args = append(args, "--values", filepath.Join(chartDir, file))
			continue
		}
		args = append(args, "--set", s)
	}
	out := helm(t, args...)
	m := &manifest{
		deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{}, configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		policies: map[string]*networkingv1.NetworkPolicy{}, jobs: map[string]*batchv1.Job{}, pods: map[string]*corev1.Pod{},
		monitors: map[string]*monitoringv1.ServiceMonitor{}, accounts: map[string]*corev1.ServiceAccount{},
		rules: map[string]*monitoringv1.PrometheusRule{},
	}
	for doc := range strings.SplitSeq(string(out), "\n---") {
		raw, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if string(raw) == "null" {
			continue
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			t.Fatal(err)
		}
		name := head.Metadata.Name
		m.kinds = append(m.kinds, head.Kind)
		var obj any
		switch head.Kind {
		case "Deployment":
			d := &appsv1.Deployment{}
			m.deployments[name], obj = d, d
		case "StatefulSet":
			d := &appsv1.StatefulSet{}
			m.statefulSets[name], obj = d, d
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			m.configMaps[name], obj = c, c
		case "Service":
			s := &corev1.Service{}
			m.services[name], obj = s, s
		case "ServiceAccount":
			s := &corev1.ServiceAccount{}
			m.accounts[name], obj = s, s
		case "PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			m.pdbs[name], obj = p, p
		case "HorizontalPodAutoscaler":
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			m.hpas[name], obj = h, h
		case "NetworkPolicy":
			p := &networkingv1.NetworkPolicy{}
			m.policies[name], obj = p, p
		case "Job":
			j := &batchv1.Job{}
			m.jobs[name], obj = j, j
		case "Pod":
			p := &corev1.Pod{}
			m.pods[name], obj = p, p
		case "ServiceMonitor":
			s := &monitoringv1.ServiceMonitor{}
			m.monitors[name], obj = s, s
		case "PrometheusRule":
			r := &monitoringv1.PrometheusRule{}
			m.rules[name], obj = r, r
		default:
			t.Fatalf("%s %s: a kind the chart is not expected to render", head.Kind, name)
		}
		if err := decodeStrict(raw, obj); err != nil {
			t.Fatalf("%s %s does not decode strictly: %v", head.Kind, name, err)
		}
		if err := validateOpenAPI(raw); err != nil {
			t.Fatalf("%s %s does not match the Kubernetes OpenAPI schema: %v", head.Kind, name, err)
		}
	}
	return m
}

// The matrix every rule below holds for.
var matrix = map[string][]string{
	"defaults":      nil,
	"dev":           {"values:values-dev.yaml"},
	"tls":           {"tls.enabled=true", "tls.clientAuth=true", "nats.url=tls://nats.messaging:4222", "nats.credentials.existingSecret=storefront-nats"},
	"ha":            {"services.catalogue.replicas=3", "services.orders.replicas=3", "services.analytics.replicas=3", "services.catalogue.autoscaling.enabled=true", "services.orders.autoscaling.enabled=true", "services.analytics.autoscaling.enabled=true", "nats.stream.replicas=3"},
	"monitoring":    {"monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true", "monitoring.dashboards.enabled=true"},
	"no-policies":   {"networkPolicy.enabled=false", "migrations.enabled=false"},
	"jwks-url":      {"auth.jwksUrl=https://auth.example.com/.well-known/jwks.json", "corsAllowedOrigins={https://shop.example.com}"},
	"image-pinning": {"image.registry=registry.example.com", "services.orders.image.tag=1.2.3-rc1"},
}

var (
	renders   = map[string]*manifest{}
	rendersMu sync.Mutex
)

func rendered(t *testing.T, name string) *manifest {
	t.Helper()
	rendersMu.Lock()
	defer rendersMu.Unlock()
	if m, ok := renders[name]; ok {
		return m
	}
	m := render(t, matrix[name]...)
	renders[name] = m
	return m
}

func TestLintStrict(t *testing.T) {
	for _, args := range [][]string{{}, {"--values", filepath.Join(chartDir, "values-dev.yaml")}} {
		out := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...)
		if !bytes.Contains(out, []byte("0 chart(s) failed")) {
			t.Errorf("helm lint --strict %v:\n%s", args, out)
		}
	}
}

func TestSchemaRefusesBadValues(t *testing.T) {
	for _, set := range []string{"services.orders.replica=3", "logLevel=LOUD", "services.catalogue.replicas=two", "nats.stream.replicas=2", "shutdown.timeout=soon", "services.orders.env.lower_case=x"} {
		cmd := exec.CommandContext(t.Context(), "go", "tool", "helm", "template", "rel", chartDir, "--set", set)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("--set %s rendered; want the schema to refuse it", set)
			continue
		}
		path := strings.Split(strings.SplitN(set, "=", 2)[0], ".")
		if key := path[len(path)-1]; !strings.Contains(string(out), key) {
			t.Errorf("--set %s: the error does not say where: %s", set, out)
		}
	}
}

func TestEveryRenderDecodesStrictly(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(matrix)) {
		t.Run(name, func(t *testing.T) {
			m := rendered(t, name)
			if len(m.deployments) != len(services) {
				t.Errorf("%d Deployments, want %d", len(m.deployments), len(services))
			}
			if slices.Contains(m.kinds, "Secret") {
				t.Error("a Secret is rendered; secrets come from existing Secrets only")
			}
		})
	}
}

// allPods are the pod specs of a render: the services', the migration
// Jobs', the test Pods' and the dev dependencies'.
func (m *manifest) allPods() map[string]corev1.PodSpec {
	out := map[string]corev1.PodSpec{}
	for n, d := range m.deployments {
		out["Deployment "+n] = d.Spec.Template.Spec
	}
	for n, d := range m.statefulSets {
		out["StatefulSet "+n] = d.Spec.Template.Spec
	}
	for n, j := range m.jobs {
		out["Job "+n] = j.Spec.Template.Spec
	}
	for n, p := range m.pods {
		out["Pod "+n] = p.Spec
	}
	return out
}

func TestEveryContainerIsRestrictedAndBounded(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(matrix)) {
		m := rendered(t, name)
		pods := m.allPods()
		if len(m.jobs) == 0 && name != "no-policies" && name != "dev" {
			t.Errorf("%s: no migration Jobs", name)
		}
		for where, spec := range pods {
			if strings.HasPrefix(where, "StatefulSet ") {
				c := spec.Containers[0]
				if c.StartupProbe == nil || c.ReadinessProbe == nil || c.LivenessProbe == nil {
					t.Errorf("%s %s: probes missing", name, where)
				}
			}
			psc := spec.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s %s: pod securityContext %+v, want runAsNonRoot and seccomp RuntimeDefault", name, where, psc)
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Errorf("%s %s: the service account token is mounted", name, where)
			}
			for _, c := range spec.Containers {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
					sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
					t.Errorf("%s %s/%s: securityContext %+v is not restricted", name, where, c.Name, sc)
				}
				if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
					t.Errorf("%s %s/%s: resources %+v, want CPU and memory requests and a memory limit", name, where, c.Name, c.Resources)
				}
			}
		}
		for n, d := range m.deployments {
			spec := d.Spec.Template.Spec
			c := spec.Containers[0]
			for probe, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
				switch {
				case name == "tls":
					// The kubelet's gRPC probes speak plaintext only.
					if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.IntValue() != 9090 {
						t.Errorf("%s %s: %s probe %+v, want HTTP on the plaintext admin port", name, n, probe, p)
					}
				case p == nil || p.GRPC == nil || p.GRPC.Port != 50051:
					t.Errorf("%s %s: %s probe %+v, want gRPC health on 50051", name, n, probe, p)
				}
			}
			if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == "tmp" && v.EmptyDir != nil }) {
				t.Errorf("%s %s: no emptyDir for /tmp", name, n)
			}
			if d.Spec.Template.Annotations["checksum/config"] == "" {
				t.Errorf("%s %s: no config checksum annotation", name, n)
			}
			if len(spec.TopologySpreadConstraints) == 0 {
				t.Errorf("%s %s: no topologySpreadConstraints", name, n)
			}
		}
	}
}

func parseDuration(t *testing.T, cm *corev1.ConfigMap, key string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(cm.Data[key])
	if err != nil {
		t.Fatalf("%s %s: %v", cm.Name, key, err)
	}
	return d
}

// The grace period covers the preStop sleep, the drain delay and the
// shutdown timeout.
func TestGracePeriodCoversTheDrain(t *testing.T) {
	m := rendered(t, "defaults")
	for n, d := range m.deployments {
		spec := d.Spec.Template.Spec
		pre := spec.Containers[0].Lifecycle.PreStop
		if pre == nil || pre.Sleep == nil {
			t.Fatalf("%s: no preStop sleep", n)
		}
		cm := m.configMaps[n]
		need := time.Duration(pre.Sleep.Seconds)*time.Second + parseDuration(t, cm, "SHUTDOWN_DRAIN_DELAY") + parseDuration(t, cm, "SHUTDOWN_TIMEOUT")
		grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		if grace <= need {
			t.Errorf("%s: terminationGracePeriodSeconds %v, want more than preStop + drain + timeout = %v", n, grace, need)
		}
	}
}

func TestEveryDeploymentHasADisruptionBudget(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(matrix)) {
		m := rendered(t, name)
		for n, d := range m.deployments {
			pdb, ok := m.pdbs[n]
			if !ok {
				t.Errorf("%s: Deployment %s has no PodDisruptionBudget", name, n)
				continue
			}
			if !maps.Equal(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
				t.Errorf("%s: PDB %s selects %v, the Deployment %v", name, n, pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
			}
		}
	}
}

func TestAutoscalingOwnsReplicas(t *testing.T) {
	m := rendered(t, "ha")
	for n, d := range m.deployments {
		if d.Spec.Replicas != nil {
			t.Errorf("%s: replicas %d set although an HPA scales it", n, *d.Spec.Replicas)
		}
		h, ok := m.hpas[n]
		if !ok || h.Spec.ScaleTargetRef.Name != n || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("%s: HPA %+v", n, h)
		}
	}
	if got := m.configMaps["rel-storefront-orders"].Data["NATS_STREAM_REPLICAS"]; got != "3" {
		t.Errorf("NATS_STREAM_REPLICAS = %q, want 3", got)
	}
	if d := rendered(t, "defaults").deployments["rel-storefront-orders"]; d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("default replicas %v, want 2", d.Spec.Replicas)
	}
	if len(rendered(t, "defaults").hpas) != 0 {
		t.Error("HPAs rendered by default")
	}
}

func TestImagesFollowAppVersion(t *testing.T) {
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	raw, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatal(err)
	}
	for n, spec := range rendered(t, "defaults").allPods() {
		for _, c := range spec.Containers {
			if !strings.HasSuffix(c.Image, ":"+chart.AppVersion) || strings.Contains(c.Image, "/storefront/") {
				t.Errorf("%s: image %s, want storefront/<service>:%s", n, c.Image, chart.AppVersion)
			}
		}
	}
	pinned := rendered(t, "image-pinning")
	for n, d := range pinned.deployments {
		want := "registry.example.com/storefront/" + strings.TrimPrefix(n, "rel-storefront-") + ":" + chart.AppVersion
		if n == "rel-storefront-orders" {
			want = "registry.example.com/storefront/orders:1.2.3-rc1"
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
			t.Errorf("%s: image %s, want %s", n, got, want)
		}
	}
}

func TestSecretsComeFromExistingSecrets(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(matrix)) {
		m := rendered(t, name)
		for n, spec := range m.allPods() {
			for _, c := range spec.Containers {
				for _, e := range c.Env {
					if e.Name != "DATABASE_URL" {
						continue
					}
					if name == "dev" {
						// The in-chart Postgres trusts the release's pods: no password.
						u, err := url.Parse(e.Value)
						if err != nil || u.Host != "rel-storefront-postgres:5432" || u.User == nil {
							t.Errorf("%s %s: DATABASE_URL %q, want the in-chart Postgres", name, n, e.Value)
							continue
						}
						if _, hasPassword := u.User.Password(); hasPassword {
							t.Errorf("%s %s: DATABASE_URL %q, want the in-chart Postgres without a password", name, n, e.Value)
						}
						continue
					}
					if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						t.Errorf("%s %s: DATABASE_URL not from a Secret: %+v", name, n, e)
					}
				}
			}
		}
		for n, cm := range m.configMaps {
			if cm.Labels["grafana_dashboard"] != "" {
				continue
			}
			for k, v := range cm.Data {
				if strings.Contains(k, "DATABASE_URL") || strings.Contains(k, "PASSWORD") || strings.Contains(v, "@") || k == "CATALOGUE_TOKEN" {
					t.Errorf("%s ConfigMap %s holds %s=%q, which belongs in a Secret", name, n, k, v)
				}
			}
		}
	}
}

func TestConfigChangeRollsThePods(t *testing.T) {
	before := rendered(t, "defaults").deployments["rel-storefront-catalogue"].Spec.Template.Annotations["checksum/config"]
	after := render(t, "logLevel=DEBUG").deployments["rel-storefront-catalogue"].Spec.Template.Annotations["checksum/config"]
	if before == after {
		t.Errorf("checksum/config %s did not change with LOG_LEVEL", before)
	}
}

func TestServicesAndMonitors(t *testing.T) {
	m := rendered(t, "defaults")
	for _, svc := range services {
		name := "rel-storefront-" + svc
		if s := m.services[name]; s == nil || s.Spec.ClusterIP == corev1.ClusterIPNone || len(s.Spec.Ports) != 2 {
			t.Errorf("%s: ClusterIP Service for HTTP and admin: %+v", name, s)
		}
		if s := m.services[name+"-grpc"]; s == nil || s.Spec.ClusterIP != corev1.ClusterIPNone || s.Spec.Ports[0].Port != 50051 {
			t.Errorf("%s-grpc: headless gRPC Service: %+v", name, s)
		}
	}
	if addr := m.configMaps["rel-storefront-orders"].Data["CATALOGUE_ADDR"]; addr != "dns:///rel-storefront-catalogue-grpc:50051" {
		t.Errorf("orders' CATALOGUE_ADDR = %q, want the headless catalogue Service", addr)
	}
	if len(m.monitors) != 0 {
		t.Error("ServiceMonitors rendered with monitoring off")
	}
	mon := rendered(t, "monitoring")
	for _, svc := range services {
		sm := mon.monitors["rel-storefront-"+svc]
		if sm == nil || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" {
			t.Errorf("%s: ServiceMonitor %+v, want the admin port", svc, sm)
		}
	}
}

var (
	readsOnce sync.Once
	reads     map[string]map[string]config.Var
	errReads  error
)

// readsOf runs `<service> env` from the repository's workspace.
func readsOf(t *testing.T, svc string) map[string]config.Var {
	t.Helper()
	readsOnce.Do(func() {
		reads = map[string]map[string]config.Var{}
		env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOWORK=") })
		for _, s := range services {
			cmd := exec.CommandContext(t.Context(), "go", "run", "./services/"+s+"/cmd/"+s, "env")
			cmd.Dir, cmd.Env = filepath.Join("..", ".."), env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				errReads = fmt.Errorf("%s env: %w\n%s", s, err, stderr.Bytes())
				return
			}
			var vars []config.Var
			if err := json.Unmarshal(out, &vars); err != nil {
				errReads = fmt.Errorf("%s env: %w", s, err)
				return
			}
			reads[s] = map[string]config.Var{}
			for _, v := range vars {
				reads[s][v.Name] = v
			}
		}
	})
	if errReads != nil {
		t.Fatal(errReads)
	}
	return reads[svc]
}

// The chart sets, for each service, only variables the service reads, and
// every variable it requires.
func TestChartSetsWhatEachServiceReads(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(matrix)) {
		m := rendered(t, name)
		for _, svc := range services {
			n := "rel-storefront-" + svc
			r := readsOf(t, svc)
			if len(r) < 20 {
				t.Fatalf("%s reads only %d variables; the env subcommand is broken", svc, len(r))
			}
			set := map[string]bool{}
			for k := range m.configMaps[n].Data {
				set[k] = true
			}
			for _, e := range m.deployments[n].Spec.Template.Spec.Containers[0].Env {
				set[e.Name] = true
			}
			for _, k := range slices.Sorted(maps.Keys(set)) {
				if _, ok := r[k]; !ok && !strings.HasPrefix(k, "OTEL_") {
					t.Errorf("%s: the chart sets %s for %s, which does not read it", name, k, svc)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(r)) {
				if r[k].Required && !set[k] {
					t.Errorf("%s: %s requires %s, which the chart does not set", name, svc, k)
				}
			}
		}
	}
}

// flows describes a policy's rules as "direction port/protocol peer" lines.
func flows(p *networkingv1.NetworkPolicy) []string {
	peer := func(ps []networkingv1.NetworkPolicyPeer) string {
		if len(ps) == 0 {
			return "anywhere"
		}
		var out []string
		for _, x := range ps {
			var parts []string
			if x.NamespaceSelector != nil {
				parts = append(parts, "ns"+strings.TrimPrefix(fmt.Sprint(x.NamespaceSelector.MatchLabels), "map"))
			}
			if x.PodSelector != nil {
				parts = append(parts, "pods"+strings.TrimPrefix(fmt.Sprint(x.PodSelector.MatchLabels), "map"))
			}
			out = append(out, strings.Join(parts, "+"))
		}
		slices.Sort(out)
		return strings.Join(out, " | ")
	}
	var out []string
	for _, r := range p.Spec.Ingress {
		for _, port := range r.Ports {
			out = append(out, fmt.Sprintf("in %s/%s from %s", port.Port, *port.Protocol, peer(r.From)))
		}
	}
	for _, r := range p.Spec.Egress {
		for _, port := range r.Ports {
			out = append(out, fmt.Sprintf("out %s/%s to %s", port.Port, *port.Protocol, peer(r.To)))
		}
	}
	slices.Sort(out)
	return out
}

func TestNetworkPoliciesAllowExactlyTheFlows(t *testing.T) {
	m := rendered(t, "defaults")
	const (
		ingress = "ns[kubernetes.io/metadata.name:ingress-nginx]"
		monitor = "ns[kubernetes.io/metadata.name:monitoring]"
		dns     = "ns[kubernetes.io/metadata.name:kube-system]+pods[k8s-app:kube-dns]"
		tests   = "pods[app.kubernetes.io/component:test app.kubernetes.io/instance:rel]"
		orders  = "pods[app.kubernetes.io/component:orders app.kubernetes.io/instance:rel app.kubernetes.io/name:storefront]"
		cat     = "pods[app.kubernetes.io/component:catalogue app.kubernetes.io/instance:rel app.kubernetes.io/name:storefront]"
		infra   = "pods[app.kubernetes.io/instance:rel storefront.io/infra-access:true]"
	)
	serving := []string{"in 8080/TCP from " + ingress, "in 9090/TCP from " + monitor}
	want := map[string][]string{
		"rel-storefront-default-deny": nil,
		"rel-storefront-infra":        {"out 4222/TCP to anywhere", "out 5432/TCP to anywhere", "out 53/TCP to " + dns, "out 53/UDP to " + dns},
		"rel-storefront-tests":        {"out 53/TCP to " + dns, "out 53/UDP to " + dns, "out 50051/TCP to " + infra},
		"rel-storefront-analytics":    append([]string{"in 50051/TCP from " + tests}, serving...),
		"rel-storefront-catalogue":    append([]string{"in 50051/TCP from " + orders + " | " + tests}, serving...),
		"rel-storefront-orders":       append([]string{"in 50051/TCP from " + tests, "out 50051/TCP to " + cat}, serving...),
	}
	if got := slices.Sorted(maps.Keys(m.policies)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("policies %v, want %v", got, slices.Sorted(maps.Keys(want)))
	}
	for n, w := range want {
		p := m.policies[n]
		slices.Sort(w)
		if got := flows(p); !slices.Equal(got, w) {
			t.Errorf("%s allows\n  %s\nwant\n  %s", n, strings.Join(got, "\n  "), strings.Join(w, "\n  "))
		}
	}
	deny := m.policies["rel-storefront-default-deny"].Spec
	if !slices.Equal(deny.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) ||
		!maps.Equal(deny.PodSelector.MatchLabels, map[string]string{"app.kubernetes.io/instance": "rel"}) {
		t.Errorf("default deny: %+v, want every pod of the release, both directions", deny)
	}
	// Every service pod and migration Job may reach Postgres and NATS; the
	// test Pods may not.
	for n := range m.allPods() {
		var labels map[string]string
		switch {
		case strings.HasPrefix(n, "Deployment "):
			labels = m.deployments[strings.TrimPrefix(n, "Deployment ")].Spec.Template.Labels
		case strings.HasPrefix(n, "Job "):
			labels = m.jobs[strings.TrimPrefix(n, "Job ")].Spec.Template.Labels
		default:
			labels = m.pods[strings.TrimPrefix(n, "Pod ")].Labels
		}
		if got, want := labels["storefront.io/infra-access"] == "true", !strings.HasPrefix(n, "Pod "); got != want {
			t.Errorf("%s: infra access %t, want %t", n, got, want)
		}
	}
	if len(rendered(t, "no-policies").policies) != 0 {
		t.Error("NetworkPolicies rendered with networkPolicy.enabled=false")
	}
}

func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed; make test-chart installs it (deploy/helm/install-promtool.sh)")
	}
	cmd := exec.CommandContext(t.Context(), path, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The chart's alerting and recording rules pass promtool's checks and the
// unit tests in testdata/rules_test.yaml, in which every alert fires once.
// Each alert links a runbook entry that docs/operations.md has.
func TestAlertRules(t *testing.T) {
	m := rendered(t, "monitoring")
	if len(rendered(t, "defaults").rules) != 0 {
		t.Error("a PrometheusRule is rendered with monitoring off")
	}
	rule, ok := m.rules["rel-storefront"]
	if !ok {
		t.Fatalf("no PrometheusRule rel-storefront in %v", slices.Collect(maps.Keys(m.rules)))
	}
	rules, err := yaml.Marshal(rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules_test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "check", "rules", "rules.yml")
	promtool(t, dir, "test", "rules", "rules_test.yaml")

	var cases struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(tests, &cases); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range cases.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	ops, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for line := range strings.SplitSeq(string(ops), "\n") {
		if strings.HasPrefix(line, "#") {
			anchors[slug(strings.TrimLeft(line, "# "))] = true
		}
	}
	alerts := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: a case that fires %t, one that does not %t; want both in testdata/rules_test.yaml", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
			url := r.Annotations["runbook_url"]
			_, anchor, _ := strings.Cut(url, "#")
			if !strings.HasPrefix(url, "https://") || !anchors[anchor] {
				t.Errorf("alert %s: runbook_url %q names no heading of docs/operations.md", r.Alert, url)
			}
			if r.Labels["severity"] != "page" && r.Labels["severity"] != "ticket" {
				t.Errorf("alert %s: severity %q, want page or ticket", r.Alert, r.Labels["severity"])
			}
		}
	}
	if alerts < 8 {
		t.Errorf("%d alerting rules, want the SLO burns and the component alerts", alerts)
	}
}

// slug is the anchor a Markdown renderer gives a heading.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

var updateRules = flag.Bool("update-rules", false, "write the chart's rules to deploy/compose/prometheus/rules.yml")

const composeRules = "../compose/prometheus/rules.yml"

// composeRulesHeader opens the local stack's copy of the chart's rules.
const composeRulesHeader = "# Generated from deploy/helm/storefront (templates/_rules.tpl, default values)\n# by `make rules`; the chart's tests fail when it is stale. Do not edit.\n"

// The local stack's Prometheus evaluates exactly the chart's rules.
func TestComposeRulesAreTheChartRules(t *testing.T) {
	rule, ok := rendered(t, "monitoring").rules["rel-storefront"]
	if !ok {
		t.Fatal("no PrometheusRule")
	}
	body, err := yaml.Marshal(rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	want := composeRulesHeader + string(body)
	if *updateRules {
		if err := os.WriteFile(composeRules, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(composeRules)
	if err != nil || string(got) != want {
		t.Errorf("%s is stale (%v): run 'make rules' and commit the result", composeRules, err)
	}
}

// The dashboards (tools/dashboards) ship as ConfigMaps Grafana's sidecar
// picks up: one per service and an overview, each valid dashboard JSON.
func TestDashboardsShipAsConfigMaps(t *testing.T) {
	m := rendered(t, "monitoring")
	uids := map[string]bool{}
	for n, cm := range m.configMaps {
		if cm.Labels["grafana_dashboard"] != "1" {
			continue
		}
		for key, body := range cm.Data {
			var d struct {
				UID    string            `json:"uid"`
				Title  string            `json:"title"`
				Panels []json.RawMessage `json:"panels"`
			}
			if err := json.Unmarshal([]byte(body), &d); err != nil {
				t.Fatalf("%s/%s: %v", n, key, err)
			}
			if d.UID == "" || len(d.Panels) < 4 {
				t.Errorf("%s/%s: uid %q, %d panels", n, key, d.UID, len(d.Panels))
			}
			uids[d.UID] = true
		}
	}
	want := []string{"storefront-analytics", "storefront-catalogue", "storefront-orders", "storefront-overview"}
	if got := slices.Sorted(maps.Keys(uids)); !slices.Equal(got, want) {
		t.Errorf("dashboards %v, want %v", got, want)
	}
	for _, cm := range rendered(t, "defaults").configMaps {
		if cm.Labels["grafana_dashboard"] != "" {
			t.Errorf("dashboard ConfigMap %s rendered with monitoring off", cm.Name)
		}
	}
}

// helm test runs `<service> check` against each service's gRPC Service.
func TestHelmTestPodsCheckEachService(t *testing.T) {
	m := rendered(t, "defaults")
	for _, svc := range services {
		name := "rel-storefront-" + svc
		p := m.pods[name+"-test"]
		if p == nil {
			t.Errorf("%s: no helm test Pod", svc)
			continue
		}
		c := p.Spec.Containers[0]
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if !slices.Equal(c.Args, []string{"check"}) || env["CHECK_ADDR"] != "dns:///"+name+"-grpc:50051" || p.Annotations["helm.sh/hook"] != "test" {
			t.Errorf("%s test Pod: args %q, env %v, annotations %v; want check against %s-grpc", svc, c.Args, env, p.Annotations, name)
		}
	}
}

// values-dev.yaml runs one Postgres and one NATS in the release, which the
// services use, and which only the release's infra pods may reach.
func TestDevValuesRunPostgresAndNATSInTheRelease(t *testing.T) {
	m := rendered(t, "dev")
	for _, dep := range []string{"postgres", "nats"} {
		ss := m.statefulSets["rel-storefront-"+dep]
		if ss == nil || *ss.Spec.Replicas != 1 || !strings.HasPrefix(ss.Spec.Template.Spec.Containers[0].Image, "storefront-local/"+dep+":") {
			t.Errorf("%s: StatefulSet %+v, want one replica of the local image", dep, ss)
		}
		if m.services["rel-storefront-"+dep] == nil {
			t.Errorf("%s: no Service", dep)
		}
	}
	initSQL := m.configMaps["rel-storefront-postgres-init"].Data["01-databases.sql"]
	for _, svc := range services {
		cm := m.configMaps["rel-storefront-"+svc]
		if cm.Data["NATS_URL"] != "nats://rel-storefront-nats:4222" {
			t.Errorf("%s: NATS_URL %q, want the in-chart NATS", svc, cm.Data["NATS_URL"])
		}
		if cm.Data["MIGRATE_ON_START"] != "true" {
			t.Errorf("%s: MIGRATE_ON_START %q; no hook Job can run before the in-chart Postgres exists", svc, cm.Data["MIGRATE_ON_START"])
		}
		if !strings.Contains(initSQL, "CREATE DATABASE "+svc+" OWNER "+svc+";") {
			t.Errorf("the Postgres init script creates no database for %s:\n%s", svc, initSQL)
		}
		if d := m.deployments["rel-storefront-"+svc]; *d.Spec.Replicas != 1 || d.Spec.Template.Spec.Containers[0].ImagePullPolicy != corev1.PullNever {
			t.Errorf("%s: replicas %d, pull policy %s; want 1 and Never", svc, *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].ImagePullPolicy)
		}
	}
	p := m.policies["rel-storefront-dev-dependencies"]
	if p == nil {
		t.Fatal("no NetworkPolicy for the dev dependencies")
	}
	want := []string{"in 4222/TCP from pods[app.kubernetes.io/instance:rel storefront.io/infra-access:true]", "in 5432/TCP from pods[app.kubernetes.io/instance:rel storefront.io/infra-access:true]"}
	if got := flows(p); !slices.Equal(got, want) {
		t.Errorf("dev dependencies policy allows %v, want %v", got, want)
	}
	if len(rendered(t, "defaults").statefulSets) != 0 {
		t.Error("defaults render in-chart Postgres or NATS")
	}
}

// With tls on, every service serves TLS from the Secret, orders verifies
// catalogue with its CA and presents the certificate (mTLS), and the helm
// test Pods do the same.
func TestTLS(t *testing.T) {
	m := rendered(t, "tls")
	mountsTLS := func(spec corev1.PodSpec) bool {
		return slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool {
			return v.Name == "tls" && v.Secret != nil && v.Secret.SecretName == "storefront-tls"
		}) && slices.ContainsFunc(spec.Containers[0].VolumeMounts, func(v corev1.VolumeMount) bool {
			return v.Name == "tls" && v.MountPath == "/etc/storefront/tls" && v.ReadOnly
		})
	}
	for _, svc := range services {
		n := "rel-storefront-" + svc
		cm := m.configMaps[n].Data
		if cm["GRPC_TLS_CERT"] != "/etc/storefront/tls/tls.crt" || cm["GRPC_TLS_KEY"] != "/etc/storefront/tls/tls.key" || cm["GRPC_TLS_CLIENT_CA"] != "/etc/storefront/tls/ca.crt" {
			t.Errorf("%s: TLS settings %v", svc, cm)
		}
		if !mountsTLS(m.deployments[n].Spec.Template.Spec) {
			t.Errorf("%s: the TLS Secret is not mounted", svc)
		}
		test := m.pods[n+"-test"]
		env := map[string]string{}
		for _, e := range test.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		if !mountsTLS(test.Spec) || env["CHECK_TLS_CA"] == "" || env["CHECK_TLS_CERT"] == "" || env["CHECK_TLS_KEY"] == "" {
			t.Errorf("%s test Pod: env %v; want the CA and the client certificate mounted", svc, env)
		}
	}
	orders := m.configMaps["rel-storefront-orders"].Data
	if orders["CATALOGUE_TLS_CA"] == "" || orders["CATALOGUE_TLS_CERT"] == "" || orders["CATALOGUE_TLS_KEY"] == "" {
		t.Errorf("orders does not verify catalogue and present its certificate: %v", orders)
	}
	for _, k := range []string{"GRPC_TLS_CERT", "CATALOGUE_TLS_CA"} {
		if _, set := rendered(t, "defaults").configMaps["rel-storefront-orders"].Data[k]; set {
			t.Errorf("defaults set %s", k)
		}
	}
}

// nats.credentials mounts the credentials file from its Secret and points
// NATS_CREDS_FILE at it; without it nothing is mounted or set.
func TestNATSCredentials(t *testing.T) {
	m := rendered(t, "tls")
	for _, svc := range services {
		n := "rel-storefront-" + svc
		if got := m.configMaps[n].Data["NATS_CREDS_FILE"]; got != "/etc/storefront/nats/nats.creds" {
			t.Errorf("%s: NATS_CREDS_FILE %q", svc, got)
		}
		spec := m.deployments[n].Spec.Template.Spec
		if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "storefront-nats" && len(v.Secret.Items) == 1 && v.Secret.Items[0].Path == "nats.creds"
		}) || !slices.ContainsFunc(spec.Containers[0].VolumeMounts, func(v corev1.VolumeMount) bool { return v.MountPath == "/etc/storefront/nats" && v.ReadOnly }) {
			t.Errorf("%s: the NATS credentials Secret is not mounted: %+v", svc, spec.Volumes)
		}
		if _, set := rendered(t, "defaults").configMaps[n].Data["NATS_CREDS_FILE"]; set {
			t.Errorf("%s: defaults set NATS_CREDS_FILE", svc)
		}
	}
}

// The OpenAPI check refuses what the chart could get wrong: an undeclared
// field, and a field of the wrong type, even where Go's decoding would not.
func TestOpenAPIRefusesWhatTheSchemaDoesNot(t *testing.T) {
	for _, bad := range []string{
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"ports":[{"port":80,"portt":81}]}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":"two"}}`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":1}}`,
	} {
		if err := validateOpenAPI([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	good := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"ports":[{"port":80}]}}`
	if err := validateOpenAPI([]byte(good)); err != nil {
		t.Errorf("refused a valid Service: %v", err)
	}
}
