package matrix

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// A scenario that times out while it is starting a daemon leaves nothing
// running: its env is closed only once the scenario returned (or refuses
// it any start after), so no daemon is started after the processes were
// stopped. Scenario timeouts far below a daemon's start time make every
// scenario time out somewhere in its start.
func TestTimeoutLeavesNoDaemon(t *testing.T) {
	needBins(t)
	name := fmt.Sprintf("tmo%d", os.Getpid())
	target := Target{Cmd: []string{bins.brokend, "-flaw", "none", "-root", "{root}", "-name", "{name}"}, Socket: "{root}/bu.sock", Protocol: ProtocolBHJSON}
	sc, _ := Select("sock.*,inst.*,path.*,auth.*")
	for _, timeout := range []time.Duration{time.Microsecond, 300 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond} {
		rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: target, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Name: name, Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		if left := procsWith(bins.brokend, "-name\x00"+name+"\x00"); len(left) > 0 {
			t.Errorf("--timeout %s: processes of the run outlived it: %v", timeout, left)
			killLeft(left)
		}
		if len(rep.Results) != len(sc) {
			t.Errorf("--timeout %s: %d results, want %d", timeout, len(rep.Results), len(sc))
		}
	}
}

// killLeft kills the processes procsWith listed ("/proc/PID: cmdline").
func killLeft(left []string) {
	for _, l := range left {
		var pid int
		if _, err := fmt.Sscanf(l, "/proc/%d:", &pid); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
