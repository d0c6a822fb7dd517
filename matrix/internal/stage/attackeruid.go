package stage

import (
	"fmt"
	"os"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// warnAttackerBusy returns a warning (and says so on the progress stream)
// when --attacker-uid has live processes as the run starts: it should be
// an otherwise unused uid. Its processes can stop or limit the attacker's
// helpers, withdraw what it planted or drop files in the scenarios'
// directories; the scenarios they touch then give no verdict rather than
// a false pass, but a busy uid makes such runs end incomplete. The
// warning goes into the report too (Report.Warnings).
func (r *Runner) warnAttackerBusy() string {
	if r.AttackerUID < 0 || r.AttackerUID == os.Geteuid() {
		return ""
	}
	pids := proc.ProcessesOf(r.AttackerUID)
	if len(pids) == 0 {
		return ""
	}
	shown := pids[:min(len(pids), 8)]
	w := fmt.Sprintf("--attacker-uid %d has %d live processes (pids %v): it should be an otherwise unused uid; processes of that uid can stop or limit the attacker's helpers, and the scenarios they touch then end as errors", r.AttackerUID, len(pids), shown)
	r.warn(w)
	return w
}

// warn says w on the progress stream, if any.
func (r *Runner) warn(w string) {
	if r.Config.Progress != nil {
		fmt.Fprintf(r.Config.Progress, "bh-ipc-check: warning: %s\n", w)
	}
}
