package e2e

import (
	"io"
	"testing"

	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

// `<service> check`, which the chart's helm test Pods run, passes against
// each running service and fails against a port nothing serves.
func TestCheckSubcommand(t *testing.T) {
	st := needStack(t)
	for _, svc := range st.services() {
		t.Run(svc.name, func(t *testing.T) {
			run := func(addr string) (int, string) {
				code, out, err := svc.ctr.Exec(t.Context(), []string{"/" + svc.name, "check"},
					tcexec.Multiplexed(), tcexec.WithEnv([]string{"CHECK_ADDR=" + addr}))
				if err != nil {
					t.Fatalf("%s check: %v", svc.name, err)
				}
				raw, _ := io.ReadAll(out)
				return code, string(raw)
			}
			if code, out := run("127.0.0.1:50051"); code != 0 {
				t.Errorf("%s check of itself: exit %d\n%s", svc.name, code, out)
			}
			if code, _ := run("127.0.0.1:1"); code == 0 {
				t.Errorf("%s check of a closed port passed", svc.name)
			}
		})
	}
}
