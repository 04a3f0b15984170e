package e2e

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// composeDir is the local stack's compose project, whose environment the
// harness gives the service containers.
const composeDir = "../deploy/compose"

// composeFile is the part of compose.yaml the harness reads.
type composeFile struct {
	Services map[string]struct {
		EnvFile     []string          `yaml:"env_file"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

// composeEnv returns the environment compose gives each service: its
// env_file entries, then its own environment on top, as compose merges them.
func composeEnv() (map[string]map[string]string, error) {
	raw, err := os.ReadFile(filepath.Join(composeDir, "compose.yaml"))
	if err != nil {
		return nil, err
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		return nil, fmt.Errorf("compose.yaml: %w", err)
	}
	out := map[string]map[string]string{}
	for _, name := range []string{"catalogue", "orders", "analytics"} {
		svc, ok := cf.Services[name]
		if !ok {
			return nil, fmt.Errorf("compose.yaml has no service %q", name)
		}
		env := map[string]string{}
		for _, f := range svc.EnvFile {
			vars, err := readEnvFile(filepath.Join(composeDir, f))
			if err != nil {
				return nil, err
			}
			maps.Copy(env, vars)
		}
		maps.Copy(env, svc.Environment)
		out[name] = env
	}
	return out, nil
}

// readEnvFile reads KEY=VALUE lines, skipping blanks and # comments, the
// subset of the env_file format the repository uses.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE, got %q", path, n, line)
		}
		vars[k] = v
	}
	return vars, sc.Err()
}
