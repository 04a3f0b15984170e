package layers_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/libs/layers"
)

const mod = "github.com/storefront-go/storefront/services/shop"

func pkg(rel string, imports ...string) layers.Package {
	p := layers.Package{ImportPath: mod + "/" + rel}
	for _, imp := range imports {
		if imp == "" || imp[0] != '!' {
			p.Imports = append(p.Imports, mod+"/"+imp)
			continue
		}
		p.Imports = append(p.Imports, imp[1:]) // outside the module
	}
	return p
}

// A service shaped as the rules say has no violations.
func TestViolationsOfAWellLayeredService(t *testing.T) {
	t.Parallel()
	pkgs := []layers.Package{
		pkg("internal/domain", "!github.com/google/uuid", "!github.com/storefront-go/storefront/libs/apperr"),
		pkg("internal/contract", "internal/domain", "!github.com/storefront-go/storefront/libs/gen/shop/v1"),
		pkg("internal/app", "internal/domain"),
		pkg("internal/adapters/postgres", "internal/app", "internal/domain", "internal/contract"),
		pkg("internal/adapters/cache"),
		pkg("internal/ports", "internal/app", "internal/domain", "internal/contract"),
		pkg("internal/server", "internal/app", "internal/adapters/postgres", "internal/adapters/cache", "internal/ports", "internal/contract"),
		pkg("cmd/shop", "internal/server", "!github.com/storefront-go/storefront/libs/service"),
	}
	if v := layers.Violations(mod, pkgs); len(v) != 0 {
		t.Errorf("violations of a well-layered service: %q", v)
	}
}

// Each broken rule is reported, naming the package and the import.
func TestViolationsReportsEachBrokenRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pkg  layers.Package
		want []string
	}{
		{
			name: "domain imports app",
			pkg:  pkg("internal/domain", "internal/app"),
			want: []string{mod + "/internal/domain (domain) imports " + mod + "/internal/app (app); domain may import only []"},
		},
		{
			name: "app imports an adapter",
			pkg:  pkg("internal/app", "internal/adapters/cache"),
			want: []string{mod + "/internal/app (app) imports " + mod + "/internal/adapters/cache (adapters); app may import only [domain]"},
		},
		{
			name: "app imports the contract",
			pkg:  pkg("internal/app", "internal/contract"),
			want: []string{mod + "/internal/app (app) imports " + mod + "/internal/contract (contract); app may import only [domain]"},
		},
		{
			name: "ports import an adapter",
			pkg:  pkg("internal/ports", "internal/adapters/watch"),
			want: []string{mod + "/internal/ports (ports) imports " + mod + "/internal/adapters/watch (adapters); ports may import only [app domain contract]"},
		},
		{
			name: "adapter imports another adapter",
			pkg:  pkg("internal/adapters/postgres", "internal/adapters/cache"),
			want: []string{mod + "/internal/adapters/postgres (adapter postgres) imports " + mod + "/internal/adapters/cache: one adapter never uses another; share through app or domain"},
		},
		{
			name: "package outside the layers",
			pkg:  pkg("internal/util"),
			want: []string{mod + "/internal/util: not in a layer (domain, contract, app, adapters/<name>, ports, server, cmd)"},
		},
		{
			name: "another service's code, even indirectly",
			pkg: layers.Package{
				ImportPath: mod + "/internal/ports",
				Deps:       []string{"github.com/storefront-go/storefront/services/catalogue/internal/domain"},
			},
			want: []string{mod + "/internal/ports depends on github.com/storefront-go/storefront/services/catalogue/internal/domain, another service's code; services share only generated contracts"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, layers.Violations(mod, []layers.Package{tt.pkg})); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}
