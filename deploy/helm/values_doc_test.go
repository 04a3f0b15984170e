package helm

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
)

var updateValuesDoc = flag.Bool("update-values-doc", false, "write docs/helm-values.md from the chart's values and schema")

const valuesDoc = "../../docs/helm-values.md"

// schemaNode is the part of values.schema.json the reference reads.
type schemaNode struct {
	Type        any                    `json:"type"`
	Enum        []any                  `json:"enum"`
	Pattern     string                 `json:"pattern"`
	Description string                 `json:"description"`
	Properties  map[string]*schemaNode `json:"properties"`
}

func (n *schemaNode) kind() string {
	if n == nil {
		return ""
	}
	switch {
	case len(n.Enum) > 0:
		var vs []string
		for _, v := range n.Enum {
			vs = append(vs, fmt.Sprint(v))
		}
		return "one of " + strings.Join(vs, ", ")
	case n.Type != nil:
		if ts, ok := n.Type.([]any); ok {
			var vs []string
			for _, v := range ts {
				vs = append(vs, fmt.Sprint(v))
			}
			return strings.Join(vs, " or ")
		}
		return fmt.Sprint(n.Type)
	}
	return ""
}

// valuesReference renders one table row per leaf of values.yaml: its
// path, its type from the schema, its default and the comment above it.
func valuesReference(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema schemaNode
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	values, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(values, &doc); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# Helm values reference\n\nGenerated from `deploy/helm/storefront/values.yaml` (defaults and comments) and\n`values.schema.json` (types) by `make values-doc`; the chart's tests fail when it is\nstale. `helm install` refuses unknown keys and wrong types.\n\n| key | type | default | description |\n|---|---|---|---|\n")
	var walk func(n *yamlv3.Node, s *schemaNode, path string)
	walk = func(n *yamlv3.Node, s *schemaNode, path string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			var sub *schemaNode
			if s != nil {
				sub = s.Properties[k.Value]
			}
			comment := strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(k.HeadComment, "# ", ""), "\n", " "))
			comment = strings.TrimPrefix(comment, "#")
			if comment == "" && sub != nil {
				comment = sub.Description
			}
			if v.Kind == yamlv3.MappingNode && len(v.Content) > 0 && (sub == nil || len(sub.Properties) > 0) {
				if comment != "" {
					fmt.Fprintf(&b, "| `%s` | object | | %s |\n", p, strings.ReplaceAll(comment, "|", "\\|"))
				}
				walk(v, sub, p)
				continue
			}
			def, err := yamlv3.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			value := strings.TrimSpace(string(def))
			if v.Kind != yamlv3.ScalarNode {
				var x any
				if err := v.Decode(&x); err != nil {
					t.Fatal(err)
				}
				j, err := json.Marshal(x)
				if err != nil {
					t.Fatal(err)
				}
				value = string(j)
			}
			fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", p, sub.kind(), strings.ReplaceAll(value, "|", "\\|"), strings.ReplaceAll(comment, "|", "\\|"))
		}
	}
	walk(doc.Content[0], &schema, "")
	return b.String()
}

// docs/helm-values.md is the reference of every value, current with the
// chart.
func TestValuesReference(t *testing.T) {
	want := valuesReference(t)
	if *updateValuesDoc {
		if err := os.WriteFile(valuesDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(valuesDoc)
	if err != nil || string(got) != want {
		t.Errorf("%s is stale (%v): run 'make generate' and commit the result", valuesDoc, err)
	}
	if strings.Count(want, "\n| `") < 60 {
		t.Errorf("the reference has only %d rows", strings.Count(want, "\n| `"))
	}
}
