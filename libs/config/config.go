// Package config loads typed configuration structs from environment variables.
//
// Fields are declared with `env:"NAME"` tags (github.com/caarlos0/env). A bad or
// missing value stops start-up with one message that names every offending
// variable, so an operator fixes them all in one go.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Error lists every variable that could not be loaded.
type Error struct {
	// Problems holds one "NAME: what is wrong" entry per variable, sorted.
	Problems []string
}

// Error returns all problems on one line.
func (e *Error) Error() string {
	return "invalid configuration: " + strings.Join(e.Problems, "; ")
}

// Load parses the environment into a new T.
func Load[T any]() (T, error) {
	return LoadWithEnv[T](nil)
}

// LoadWithEnv parses the given variables into a new T instead of the process
// environment when environ is non-nil. Tests use it to avoid touching os.Environ.
func LoadWithEnv[T any](environ map[string]string) (T, error) {
	var cfg T
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	lookup := os.LookupEnv
	if environ != nil {
		lookup = func(k string) (string, bool) { v, ok := environ[k]; return v, ok }
	}
	if err := env.ParseWithOptions(&cfg, opts); err != nil {
		return cfg, describe(reflect.TypeOf(cfg), lookup, err)
	}
	return cfg, nil
}

// describe turns the env library's errors into messages that name variables
// rather than Go fields.
func describe(t reflect.Type, lookup func(string) (string, bool), err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return &Error{Problems: []string{err.Error()}}
	}
	problems := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var (
			notSet env.VarIsNotSetError
			empty  env.EmptyVarError
			parse  env.ParseError
		)
		switch {
		case errors.As(e, &notSet):
			problems = append(problems, notSet.Key+": required but not set")
		case errors.As(e, &empty):
			problems = append(problems, empty.Key+": must not be empty")
		case errors.As(e, &parse):
			problems = append(problems, fmt.Sprintf("%s: %v", keyOf(t, lookup, parse), unwrapParse(parse.Err)))
		default:
			problems = append(problems, e.Error())
		}
	}
	sort.Strings(problems)
	return &Error{Problems: problems}
}

// unwrapParse keeps strconv's reason and input without its function name.
func unwrapParse(err error) error {
	if num, ok := errors.AsType[*strconv.NumError](err); ok {
		return fmt.Errorf("%w (got %q)", num.Err, num.Num)
	}
	return err
}

// keyOf names the variable behind a parse error. The library reports only
// the Go field name, which nested structs (server and client timeouts, say)
// can share; of the variables bound to that name, the one that is set, and
// then the one whose value the error quotes, is the culprit.
func keyOf(t reflect.Type, lookup func(string) (string, bool), perr env.ParseError) string {
	candidates := keysFor(t, "", perr.Name)
	if len(candidates) == 0 {
		return perr.Name
	}
	narrow := func(keep func(key, value string) bool) {
		var kept []string
		for _, k := range candidates {
			if v, ok := lookup(k); ok && keep(k, v) {
				kept = append(kept, k)
			}
		}
		if len(kept) > 0 {
			candidates = kept
		}
	}
	narrow(func(_, _ string) bool { return true })
	if len(candidates) > 1 {
		msg := perr.Err.Error()
		narrow(func(_, v string) bool { return v != "" && strings.Contains(msg, v) })
	}
	return strings.Join(candidates, " or ")
}

// keysFor lists every variable bound to a field of that name, following
// nested structs and their envPrefix tags.
func keysFor(t reflect.Type, prefix, field string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if f.Name == field && name != "" {
			keys = append(keys, prefix+name)
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			keys = append(keys, keysFor(ft, prefix+f.Tag.Get("envPrefix"), field)...)
		}
	}
	return keys
}

// Var is one environment variable a configuration struct reads.
type Var struct {
	Name string `json:"name"`
	// Default is the value used when the variable is unset; empty when
	// HasDefault is false.
	Default    string `json:"default,omitempty"`
	HasDefault bool   `json:"has_default"`
	Required   bool   `json:"required"`
	// File means the variable names a file whose contents are the value.
	File bool `json:"file,omitempty"`
}

// Vars lists every variable T reads, nested structs and envPrefix included,
// sorted by name. Deployments (compose, the Helm chart) are checked against
// it, so a variable a service reads can't go unset by accident, nor one it
// doesn't read be set in vain.
func Vars[T any]() ([]Var, error) {
	var cfg T
	params, err := env.GetFieldParamsWithOptions(&cfg, env.Options{Environment: map[string]string{}})
	if err != nil {
		return nil, err
	}
	vars := make([]Var, 0, len(params))
	for _, p := range params {
		vars = append(vars, Var{Name: p.Key, Default: p.DefaultValue, HasDefault: p.HasDefaultValue, Required: p.Required || p.NotEmpty && !p.HasDefaultValue, File: p.LoadFile})
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i].Name < vars[j].Name })
	return slices.CompactFunc(vars, func(a, b Var) bool { return a.Name == b.Name }), nil
}
