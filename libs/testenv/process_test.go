package testenv_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/storefront-go/storefront/libs/testenv"
)

// readyzCmd stands in for a service binary.
const readyzCmd = "github.com/storefront-go/storefront/libs/testenv/testdata/readyz"

func TestBuildBinaryBuildsOnce(t *testing.T) {
	t.Parallel()
	first, second := testenv.BuildBinary(t, readyzCmd), testenv.BuildBinary(t, readyzCmd)
	if first != second {
		t.Errorf("second build at %s, want the first's %s", second, first)
	}
}

func TestProcess(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildBinary(t, readyzCmd)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // in Stop's error; empty for a clean exit
	}{
		{name: "clean exit", env: map[string]string{"GREETING": "hello"}},
		{name: "exit status", env: map[string]string{"GREETING": "hello", "EXIT_STATUS": "3"}, wantErr: "exit status 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testenv.NewProcess(t, "readyz", bin, tt.env)
			for _, addr := range []string{p.GRPCAddr(), p.HTTPAddr(), p.AdminAddr()} {
				if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
					t.Errorf("address %q, want a fixed loopback port", addr)
				}
			}
			p.Start() // returns once /readyz answers
			// The environment is exactly the one given.
			if out := p.Logs().String(); !strings.Contains(out, "greeting=hello home=false") {
				t.Errorf("output = %q, want the greeting and no inherited HOME", out)
			}
			err := p.Stop()
			if tt.wantErr == "" && err != nil {
				t.Errorf("Stop = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Stop = %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(p.Logs().String(), "stopping") {
				t.Errorf("output = %q; SIGTERM did not reach the process", p.Logs().String())
			}
		})
	}
}

// A killed process starts again on the same ports.
func TestProcessRestartsAfterKill(t *testing.T) {
	t.Parallel()
	p := testenv.NewProcess(t, "readyz", testenv.BuildBinary(t, readyzCmd), map[string]string{"GREETING": "again"})
	addr := p.HTTPAddr()
	if pid := p.PID(); pid != 0 {
		t.Errorf("PID before start = %d, want 0", pid)
	}
	p.Start()
	first := p.PID()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", first)); first <= 0 || err != nil {
		t.Errorf("PID = %d (%v), want the running process's", first, err)
	}
	p.Kill()
	if pid := p.PID(); pid != 0 {
		t.Errorf("PID after kill = %d, want 0", pid)
	}
	p.Kill() // a no-op once it is down
	p.Start()
	if p.HTTPAddr() != addr {
		t.Errorf("HTTP address after restart = %s, want %s", p.HTTPAddr(), addr)
	}
	if n := strings.Count(p.Logs().String(), "greeting=again"); n != 2 {
		t.Errorf("output has %d starts, want 2:\n%s", n, p.Logs().String())
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop = %v", err)
	}
}
