package matrix

import (
	"fmt"
	"os"
)

// warnAttackerBusy says so on the progress stream when --attacker-uid has
// live processes as the run starts: it should be an otherwise unused uid.
// Its processes can stop or limit the attacker's helpers (which run as
// that uid); the helpers then give no verdict rather than a false pass,
// but a busy uid makes such runs end incomplete.
func (r *Runner) warnAttackerBusy() {
	if r.attackerUID < 0 || r.attackerUID == os.Geteuid() || r.cfg.Progress == nil {
		return
	}
	pids := processesOf(r.attackerUID)
	if len(pids) == 0 {
		return
	}
	shown := pids[:min(len(pids), 8)]
	fmt.Fprintf(r.cfg.Progress, "bh-ipc-check: warning: --attacker-uid %d has %d live processes (pids %v): it should be an otherwise unused uid; processes of that uid can stop or limit the attacker's helpers, and the scenarios they touch then end as errors\n", r.attackerUID, len(pids), shown)
}
