package matrix

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/scenario"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// scenario.ForeignTalk passes only on a refusal: an attacker helper that could not
// connect for its own reasons (its RLIMIT_NOFILE lowered by its own uid)
// or was stopped is no verdict.
func TestForeignTalkNeedsARefusal(t *testing.T) {
	for _, c := range []struct {
		name   string
		res    probe.ConnectResult
		status Status
	}{
		{"EMFILE", probe.ConnectResult{Error: "dial unix /x: socket: too many open files"}, Error},
		{"stopped helper", probe.ConnectResult{Connected: true, Error: "no reply within 3s (connection held open); the helper did not run for 2s"}, Error},
		{"refused", probe.ConnectResult{Error: "dial unix /x: connect: permission denied", Refused: "permission denied"}, Pass},
		{"closed", probe.ConnectResult{Connected: true, Refused: "closed by the daemon"}, Pass},
		// Held silent, but the connection was not handed to the suite:
		// whether the daemon answered anyone meanwhile is unknown.
		{"held silent", probe.ConnectResult{Connected: true, Error: "no reply within 3s (connection held open)", Refused: probe.HeldSilent}, Error},
	} {
		t.Run(c.name, func(t *testing.T) {
			old := stage.Actions["connect"]
			stage.Actions["connect"] = func(ctx context.Context, arg json.RawMessage) (any, error) { return c.res, nil }
			defer func() { stage.Actions["connect"] = old }()
			r := testRunner(t)
			r.AttackerUID = os.Geteuid() // the helper runs in this process
			e := &Env{Runner: r}
			if o := scenario.ForeignTalk(context.Background(), e); o.Status != c.status {
				t.Errorf("%s: %s %q, want %s", c.name, o.Status, o.Reason, c.status)
			}
		})
	}
}
