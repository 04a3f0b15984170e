package grpcclient

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Retry backoff and throttling follow the grpc-go retry example; throttling
// stops retry storms when a whole target is failing.
const (
	retryInitialBackoff    = "0.1s"
	retryMaxBackoff        = "1s"
	retryBackoffMultiplier = 2
	throttleMaxTokens      = 10
	throttleTokenRatio     = 0.1
)

type serviceConfig struct {
	LoadBalancingConfig []map[string]struct{} `json:"loadBalancingConfig"`
	MethodConfig        []methodConfig        `json:"methodConfig,omitempty"`
	RetryThrottling     *retryThrottling      `json:"retryThrottling,omitempty"`
}

type methodConfig struct {
	Name        []methodName `json:"name"`
	RetryPolicy retryPolicy  `json:"retryPolicy"`
}

type methodName struct {
	Service string `json:"service"`
	Method  string `json:"method"`
}

type retryPolicy struct {
	MaxAttempts          int      `json:"maxAttempts"`
	InitialBackoff       string   `json:"initialBackoff"`
	MaxBackoff           string   `json:"maxBackoff"`
	BackoffMultiplier    float64  `json:"backoffMultiplier"`
	RetryableStatusCodes []string `json:"retryableStatusCodes"`
}

type retryThrottling struct {
	MaxTokens  int     `json:"maxTokens"`
	TokenRatio float64 `json:"tokenRatio"`
}

// buildServiceConfig returns the JSON service config: round_robin for every
// call, and a retry policy for UNAVAILABLE only on the idempotent methods,
// since retrying a call with side effects could apply it twice.
func buildServiceConfig(maxAttempts int, idempotent []string) (string, error) {
	sc := serviceConfig{
		LoadBalancingConfig: []map[string]struct{}{{"round_robin": {}}},
		RetryThrottling:     &retryThrottling{MaxTokens: throttleMaxTokens, TokenRatio: throttleTokenRatio},
	}
	// grpc rejects a retry policy with fewer than 2 attempts.
	if maxAttempts >= 2 && len(idempotent) > 0 {
		seen := make(map[methodName]bool, len(idempotent))
		for _, full := range idempotent {
			name, err := parseMethod(full)
			if err != nil {
				return "", err
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			sc.MethodConfig = append(sc.MethodConfig, methodConfig{
				Name: []methodName{name},
				RetryPolicy: retryPolicy{
					MaxAttempts:          maxAttempts,
					InitialBackoff:       retryInitialBackoff,
					MaxBackoff:           retryMaxBackoff,
					BackoffMultiplier:    retryBackoffMultiplier,
					RetryableStatusCodes: []string{"UNAVAILABLE"},
				},
			})
		}
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return "", fmt.Errorf("marshal service config: %w", err)
	}
	return string(b), nil
}

// parseMethod splits "/pkg.Service/Method" (the generated *_FullMethodName
// form; the leading slash is optional) into service and method.
func parseMethod(full string) (methodName, error) {
	service, method, ok := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	if !ok || service == "" || method == "" || strings.Contains(method, "/") {
		return methodName{}, fmt.Errorf("method %q is not of the form /package.Service/Method", full)
	}
	return methodName{Service: service, Method: method}, nil
}

// methodSet parses full method names into a lookup set keyed by the
// canonical "/service/method" form that interceptors receive.
func methodSet(fulls []string) (map[string]bool, error) {
	set := make(map[string]bool, len(fulls))
	for _, full := range fulls {
		name, err := parseMethod(full)
		if err != nil {
			return nil, err
		}
		set["/"+name.Service+"/"+name.Method] = true
	}
	return set, nil
}
