// Package layers states the layer rules inside a Storefront service and
// checks a service module against them. A service's tests call Check, so
// `make test` fails when a rule is broken.
//
// Inside services/<svc> every package sits in one layer, named by its
// directory:
//
//	internal/domain       types and rules; imports nothing of the service
//	internal/contract     protobuf <-> domain mapping; imports domain
//	internal/app          use cases and the interfaces they need; imports domain
//	internal/adapters/*   implement app's interfaces; import app, domain, contract
//	internal/ports        gRPC handlers and event handlers; import app, domain, contract
//	internal/server       the wiring: imports everything
//	cmd/*                 the binary: imports the wiring
//
// Libraries (libs, generated code, third-party modules) may be imported by
// any layer, and no service package may depend, even indirectly, on another
// service's code.
package layers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// ServicesPrefix is the import path prefix every service module shares.
const ServicesPrefix = "github.com/storefront-go/storefront/services/"

// Layer is one layer of a service.
type Layer string

// The layers.
const (
	Domain   Layer = "domain"
	Contract Layer = "contract"
	App      Layer = "app"
	Adapters Layer = "adapters"
	Ports    Layer = "ports"
	Wiring   Layer = "server"
	Command  Layer = "cmd"
)

// allowed lists, per layer, the layers of the same service it may import.
// A package may always import packages of its own layer's directory tree
// except across adapters (one adapter never uses another).
func allowed(l Layer) []Layer {
	switch l {
	case Contract, App:
		return []Layer{Domain}
	case Adapters, Ports:
		return []Layer{App, Domain, Contract}
	case Wiring:
		return []Layer{Domain, Contract, App, Adapters, Ports}
	case Command:
		return []Layer{Wiring}
	default: // Domain
		return nil
	}
}

// Package is what the check needs to know of one package: `go list -json`
// fields of the same names.
type Package struct {
	ImportPath string   `json:"ImportPath"`
	Imports    []string `json:"Imports"`
	Deps       []string `json:"Deps"`
}

// layerOf returns the layer of path inside module, and the unit within the
// layer (the adapter's name, for adapters).
func layerOf(module, path string) (Layer, string, bool) {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rel, "/")
	switch {
	case parts[0] == "cmd":
		return Command, "", true
	case parts[0] != "internal" || len(parts) < 2:
		return "", "", false
	}
	switch l := Layer(parts[1]); l {
	case Domain, Contract, App, Ports, Wiring:
		return l, "", true
	case Adapters:
		if len(parts) < 3 {
			return "", "", false
		}
		return Adapters, parts[2], true
	default: // internal/cmd is no layer: binaries live in cmd/
		return "", "", false
	}
}

// Violations returns every broken rule among pkgs, the packages of the
// service module module, one line each, sorted.
func Violations(module string, pkgs []Package) []string {
	var out []string
	for _, p := range pkgs {
		layer, unit, ok := layerOf(module, p.ImportPath)
		if !ok {
			out = append(out, p.ImportPath+": not in a layer (domain, contract, app, adapters/<name>, ports, server, cmd)")
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			il, iunit, ok := layerOf(module, imp)
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s (%s) imports %s, which is in no layer", p.ImportPath, layer, imp))
			case layer == Adapters && il == Adapters && iunit != unit:
				out = append(out, fmt.Sprintf("%s (adapter %s) imports %s: one adapter never uses another; share through app or domain", p.ImportPath, unit, imp))
			case il != layer && !slices.Contains(allowed(layer), il):
				out = append(out, fmt.Sprintf("%s (%s) imports %s (%s); %s may import only %v", p.ImportPath, layer, imp, il, layer, allowed(layer)))
			}
		}
		for _, dep := range p.Deps {
			if strings.HasPrefix(dep, ServicesPrefix) && dep != module && !strings.HasPrefix(dep, module+"/") {
				out = append(out, fmt.Sprintf("%s depends on %s, another service's code; services share only generated contracts", p.ImportPath, dep))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// List runs `go list -json ./...` in dir, with each package's
// transitive Deps, and returns the module path and its packages. Test
// files are left out: tests may reach across layers to build fixtures.
func List(ctx context.Context, dir string) (string, []Package, error) {
	mod, err := goCmd(ctx, dir, "list", "-f", "{{.Module.Path}}", ".")
	if err != nil {
		return "", nil, err
	}
	out, err := goCmd(ctx, dir, "list", "-json=ImportPath,GoFiles,Imports,Deps", "./...")
	if err != nil {
		return "", nil, err
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Package
			GoFiles []string `json:"GoFiles"`
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", nil, fmt.Errorf("decode go list output: %w", err)
		}
		if len(p.GoFiles) == 0 {
			continue // only tests, such as the one that calls Check
		}
		pkgs = append(pkgs, p.Package)
	}
	return strings.TrimSpace(string(mod)), pkgs, nil
}

func goCmd(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...) //nolint:gosec // the arguments are this package's own constants and a test's directory
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// Check lists the service module in dir (a test passes ".", its module
// root) and fails tb for every broken rule. It also fails when the module
// has no packages in any layer, so a check that sees nothing never passes.
func Check(tb testing.TB, dir string) {
	tb.Helper()
	module, pkgs, err := List(tb.Context(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.HasPrefix(module, ServicesPrefix) {
		tb.Fatalf("%s is not a service module", module)
	}
	layered := 0
	for _, p := range pkgs {
		if _, _, ok := layerOf(module, p.ImportPath); ok {
			layered++
		}
	}
	if layered == 0 {
		tb.Fatalf("no package of %s is in a layer", module)
	}
	for _, v := range Violations(module, pkgs) {
		tb.Error(v)
	}
}
