//go:build !linux

package matrix

import "context"

// run: auth.pid-handoff is Linux's (Platforms), so the suite never asks
// for it elsewhere.
func (a pidHandoff) run(ctx context.Context) pidHandoffResult {
	return pidHandoffResult{Skip: "the attack is made on Linux only"}
}

// pidHandoffChildMain: the connector runs on Linux only.
func pidHandoffChildMain() int {
	return 2
}
