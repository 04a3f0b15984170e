package testenv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// buildTimeout bounds one go build.
	buildTimeout = 5 * time.Minute
	// processPoll spaces the readiness probes of a starting process.
	processPoll = 50 * time.Millisecond
	// pipeDelay bounds waiting for a process's output once it has exited.
	pipeDelay = 5 * time.Second
)

// builds caches BuildBinary's executables for the life of the test binary,
// so parallel tests share one build of each package.
//
//nolint:gochecknoglobals // one build cache per test binary is the point; a test cannot hold it
var builds = struct {
	mu    sync.Mutex
	dir   string
	byPkg map[string]*build
}{byPkg: map[string]*build{}}

type build struct {
	once sync.Once
	path string
	err  error
}

// BuildBinary builds the main package pkg, an import path resolved from
// the test's package directory (so its module or go.work decides the
// source), once per test binary, and returns the executable's path. Tests
// that ask for the same package share the build; if it fails, each of them
// fails with the go command's output. The executables live in a temporary
// directory shared by the test binary rather than in t.TempDir(), because
// they outlive the first test that asks; RemoveBinaries deletes it.
func BuildBinary(tb testing.TB, pkg string) string {
	tb.Helper()
	builds.mu.Lock()
	b, ok := builds.byPkg[pkg]
	if !ok {
		b = &build{}
		builds.byPkg[pkg] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(pkg) })
	if b.err != nil {
		tb.Fatalf("build %s: %v", pkg, b.err)
	}
	return b.path
}

func goBuild(pkg string) (string, error) {
	dir, err := binariesDir()
	if err != nil {
		return "", err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go command: %w", err)
	}
	bin := filepath.Join(dir, strings.ReplaceAll(pkg, "/", "_"))
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, goCmd, "build", "-o", bin, pkg).CombinedOutput() //nolint:gosec // builds the package the test names
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

func binariesDir() (string, error) {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "testenv-bin-")
		if err != nil {
			return "", fmt.Errorf("directory for binaries: %w", err)
		}
		builds.dir = dir
	}
	return builds.dir, nil
}

// RemoveBinaries deletes what BuildBinary built. A TestMain that runs
// tests using BuildBinary calls it after m.Run; MainWithPostgres does.
func RemoveBinaries() error {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir == "" {
		return nil
	}
	err := os.RemoveAll(builds.dir)
	builds.dir = ""
	builds.byPkg = map[string]*build{}
	if err != nil {
		return fmt.Errorf("remove binaries: %w", err)
	}
	return nil
}

// Process is a service binary run as a subprocess, which a test can stop
// or kill and start again on the same ports, database and NATS server.
type Process struct {
	t    testing.TB
	name string
	bin  string
	env  []string
	addr map[string]string // GRPC_ADDR, HTTP_ADDR, ADMIN_ADDR → address
	logs *LogBuffer

	mu  sync.Mutex
	run *run // nil when not running
}

// run is one start of a Process.
type run struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // how cmd exited; read only after done is closed
}

// NewProcess prepares bin to run with exactly env as its environment:
// nothing is inherited from the test. GRPC_ADDR, HTTP_ADDR and ADMIN_ADDR
// that are unset or on port 0 are pinned to free loopback ports below
// Linux's ephemeral range, where listeners on port 0 never land, so the
// test knows where to reach the process and a restart binds the same
// ports. Start runs it. When t ends it is stopped as Stop does, and an
// unclean exit fails t; a failed test reports the tail of its output.
// name labels it in failure reports.
func NewProcess(tb testing.TB, name, bin string, env map[string]string) *Process {
	tb.Helper()
	p := &Process{t: tb, name: name, bin: bin, addr: map[string]string{}, logs: &LogBuffer{}}
	pinned := maps.Clone(env)
	if pinned == nil {
		pinned = map[string]string{}
	}
	for _, k := range []string{"GRPC_ADDR", "HTTP_ADDR", "ADMIN_ADDR"} {
		if _, port, err := net.SplitHostPort(pinned[k]); err != nil || port == "0" {
			port, err := portBelowEphemeral()
			if err != nil {
				tb.Fatalf("pick a port for %s %s: %v", name, k, err)
			}
			pinned[k] = net.JoinHostPort(loopbackHost, strconv.Itoa(port))
		}
		p.addr[k] = pinned[k]
	}
	for k, v := range pinned {
		p.env = append(p.env, k+"="+v)
	}
	slices.Sort(p.env)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("%s output:\n%s", name, p.logs.Tail(failureLogLines))
		}
	})
	tb.Cleanup(func() {
		if err := p.Stop(); err != nil {
			tb.Errorf("%s: %v", name, err)
		}
	})
	return p
}

// GRPCAddr is the process's gRPC address.
func (p *Process) GRPCAddr() string { return p.addr["GRPC_ADDR"] }

// HTTPAddr is the process's HTTP address, which serves /readyz.
func (p *Process) HTTPAddr() string { return p.addr["HTTP_ADDR"] }

// AdminAddr is the process's admin address, which serves /metrics.
func (p *Process) AdminAddr() string { return p.addr["ADMIN_ADDR"] }

// PID is the operating-system id of the running process, or 0 when it is
// not running. Benchmarks read its memory from /proc with it.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run == nil {
		return 0
	}
	return p.run.cmd.Process.Pid
}

// Logs holds the process's stdout and stderr, across restarts.
func (p *Process) Logs() *LogBuffer { return p.logs }

// Start runs the process and waits, up to 60s, until its /readyz answers
// 200. It fails t if the process is running already, exits during start-up
// or isn't ready in time.
func (p *Process) Start() {
	t := p.t
	t.Helper()
	r := p.launch()
	p.waitReady(r)
}

// launch starts the command; Start waits for it without holding p.mu.
func (p *Process) launch() *run {
	t := p.t
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run != nil {
		t.Fatalf("start %s: already running", p.name)
	}
	cmd := exec.Command(p.bin) //nolint:gosec,noctx // runs the binary the test built; Stop and Kill end it, not a context
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.WaitDelay = pipeDelay
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	r := &run{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = cmd.Wait()
	}()
	p.run = r
	return r
}

// waitReady polls /readyz until it answers 200, failing t if r exits or
// readyTimeout passes first.
func (p *Process) waitReady(r *run) {
	t := p.t
	t.Helper()
	url := "http://" + p.HTTPAddr() + "/readyz"
	deadline := time.Now().Add(readyTimeout)
	for {
		err := probeReady(t.Context(), url)
		if err == nil {
			return
		}
		select {
		case <-r.done:
			t.Fatalf("%s exited during start-up: %v\n%s", p.name, r.err, p.logs.Tail(50))
		case <-time.After(processPoll):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s: %v", p.name, readyTimeout, err)
		}
	}
}

func probeReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return GetOK(ctx, url)
}

// GetOK sends GET url and reports an error unless it answers 200: the
// readiness probe of the services (/readyz) and of other servers under test.
func GetOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// take takes the running command out of p, so one caller ends it.
func (p *Process) take() *run {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.run
	p.run = nil
	return r
}

// Stop sends SIGTERM and waits up to 30s for the process to exit, then
// kills it. It returns nil if the process exited with status 0, and
// otherwise how it exited (including on its own, before Stop). It does
// nothing when the process is not running.
func (p *Process) Stop() error {
	r := p.take()
	if r == nil {
		return nil
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-r.done:
		if r.err != nil {
			return fmt.Errorf("%s exited: %w", p.name, r.err)
		}
		return nil
	case <-time.After(runStopTimeout):
	}
	if err := r.kill(); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.name, runStopTimeout)
}

// Kill ends the process at once with SIGKILL, as a crash would. It does
// nothing when the process is not running.
func (p *Process) Kill() {
	p.t.Helper()
	if r := p.take(); r != nil {
		if err := r.kill(); err != nil {
			p.t.Errorf("%s: %v", p.name, err)
		}
	}
}

func (r *run) kill() error {
	_ = r.cmd.Process.Kill()
	select {
	case <-r.done:
		return nil
	case <-time.After(runStopTimeout):
		return fmt.Errorf("no exit within %s of SIGKILL", runStopTimeout)
	}
}
