package matrix

import (
	"strings"
	"testing"
)

// A port file readable by all is a FAIL of tcp.portfile-private even when
// the suite's own ipc client, which refuses such a port file, could not
// talk to the daemon: what the daemon did to the filesystem is judged
// first, and the refusal is no reason for "no verdict".
func TestPortFile0644FailsUnderTheIPCProtocol(t *testing.T) {
	t.Parallel()
	target := Target{
		Cmd:      []string{bins.brokend, "-flaw", "ipcport0644", "-root", "{root}", "-name", "{name}", "-transport", "{transport}"},
		Socket:   DefaultSocketTemplate,
		PortFile: "{root}/bu-{name}.d/port",
		Protocol: ProtocolIPC,
	}
	rep := runSuite(t, target, "tcp.portfile-private")
	checkFails(t, rep, []string{"tcp.portfile-private"})
	if r, _ := find(rep, "tcp.portfile-private"); !strings.Contains(r.Reason, "0644") {
		t.Errorf("tcp.portfile-private: %q, want the mode named", r.Reason)
	}
}
