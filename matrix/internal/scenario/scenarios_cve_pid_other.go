//go:build !linux

package scenario

import (
	"context"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// run: auth.pid-handoff is Linux's (Platforms), so the suite never asks
// for it elsewhere.
func (a pidHandoff) run(ctx context.Context) pidHandoffResult {
	return pidHandoffResult{Skip: "the attack is made on Linux only"}
}

// pidHandoffChildMain: the connector runs on Linux only.
func pidHandoffChildMain() int {
	return 2
}

// RlimitsNow: the connector's limits are Linux's concern only.
func RlimitsNow() []rlimitOf { return nil }

// probeSetuid: the attack is made on Linux only.
func probeSetuid(ctx context.Context, e *stage.Env, a *pidHandoff) error { return nil }
