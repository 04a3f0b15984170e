package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/storefront-go/storefront/libs/config"
)

// optionalEnv is testdata/optional.env: the variables a deployment may
// leave unset, each with the default the services must report for it.
func optionalEnv(t *testing.T) map[string]string {
	t.Helper()
	vars, err := readEnvFile("testdata/optional.env")
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

// readsOf runs `<service> env` in the service's own container.
func readsOf(t *testing.T, svc *service) map[string]config.Var {
	t.Helper()
	code, out, err := svc.ctr.Exec(t.Context(), []string{"/" + svc.name, "env"}, tcexec.Multiplexed())
	if err != nil || code != 0 {
		t.Fatalf("%s env: exit %d, %v", svc.name, code, err)
	}
	raw, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	var vars []config.Var
	if err := json.Unmarshal(raw, &vars); err != nil {
		t.Fatalf("%s env: %v\n%s", svc.name, err, raw)
	}
	byName := make(map[string]config.Var, len(vars))
	for _, v := range vars {
		byName[v.Name] = v
	}
	return byName
}

// standardEnv are variables read by libraries rather than a config struct.
func standardEnv(name string) bool { return strings.HasPrefix(name, "OTEL_") }

// Compose and the harness set exactly what each service reads: every
// variable a service's configuration declares is set by compose or listed
// in testdata/optional.env with the default the service really has, and
// nothing compose or the harness sets goes unread.
func TestComposeSetsWhatEachServiceReads(t *testing.T) {
	st := needStack(t)
	optional := optionalEnv(t)
	usedOptional := map[string]bool{}
	for _, svc := range st.services() {
		t.Run(svc.name, func(t *testing.T) {
			reads := readsOf(t, svc)
			if len(reads) < 20 {
				t.Fatalf("%s reads only %d variables; the env subcommand is broken", svc.name, len(reads))
			}
			for _, k := range slices.Sorted(maps.Keys(st.compose[svc.name])) {
				if _, ok := reads[k]; !ok && !standardEnv(k) {
					t.Errorf("compose sets %s for %s, which does not read it", k, svc.name)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(st.overrides[svc.name])) {
				if _, ok := reads[k]; !ok && !standardEnv(k) {
					t.Errorf("the harness sets %s for %s, which does not read it", k, svc.name)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(reads)) {
				v := reads[k]
				if _, set := st.compose[svc.name][k]; set {
					continue
				}
				def, listed := optional[k]
				switch {
				case !listed:
					t.Errorf("%s reads %s (default %q, required %v), which compose does not set; set it in deploy/compose or list it in e2e/testdata/optional.env", svc.name, k, v.Default, v.Required)
				case v.Required:
					t.Errorf("%s requires %s, which compose does not set", svc.name, k)
				case def != v.Default:
					t.Errorf("%s: optional.env gives %s the default %q; the service has %q", svc.name, k, def, v.Default)
				}
				usedOptional[k] = true
			}
		})
	}
	for _, k := range slices.Sorted(maps.Keys(optional)) {
		if !usedOptional[k] {
			t.Errorf("optional.env lists %s, which no service leaves to its default", k)
		}
	}
}

// Keep the reader honest: optional.env is a plain KEY=VALUE file.
func TestOptionalEnvIsSorted(t *testing.T) {
	f, err := os.Open("testdata/optional.env")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _ := strings.Cut(line, "=")
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) {
		t.Errorf("testdata/optional.env is not sorted by name")
	}
	if len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Errorf("testdata/optional.env lists a name twice")
	}
}
