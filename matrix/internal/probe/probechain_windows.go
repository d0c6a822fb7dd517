package probe

import "os/exec"

// chainError: see probechain_unix.go.
type chainError struct {
	msg      string
	notFound bool
}

func (e *chainError) Error() string { return e.msg }

// verifyEndpointChain: no other uid acts in a run on Windows (see doc.go),
// so there is no chain to verify.
func verifyEndpointChain(path string, uid int, want uint32) error { return nil }

func probeProcessGroup(cmd *exec.Cmd) {}

func killProbeGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		cmd.Process.Kill()
	}
}

// The endpoint kinds verifyEndpointChain checks for.
const (
	endpointSocket = 1
	endpointFile   = 2
)
