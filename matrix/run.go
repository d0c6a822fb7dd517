package matrix

import (
	"context"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// Run runs the suite and returns its report. An error means the run could
// not be set up (bad configuration, refused by Config.Validate after the
// zero fields are filled with their defaults); scenario failures are in
// the report. After a failed preflight (*PreflightError) the report is
// returned too, with no results and SetupError set.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Scenarios == nil {
		cfg.Scenarios = Catalogue()
	}
	return stage.RunConfig(ctx, cfg)
}
