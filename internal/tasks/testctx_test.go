package tasks

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/matrix"
)

// testContext ends before the test binary's deadline (go test -timeout),
// so a slow test fails by itself and its cleanups run: the commands it
// started (command: each in its own process group) are killed with their
// children, where go test's timeout panic would leave them running. The
// margin is a tenth of the time left, between 5 s and 1 min.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if dl, ok := t.Deadline(); ok {
		margin := min(max(time.Until(dl)/10, 5*time.Second), time.Minute)
		ctx, cancel = context.WithDeadline(context.Background(), dl.Add(-margin))
	}
	t.Cleanup(cancel)
	return ctx
}

// crossLegs runs CrossLegs once for the tests that need it (TestCrossLegs
// asserts it; TestWindowsUnderWine waits for it so its windows builds reuse
// what the cross leg compiled instead of compiling the same in parallel).
var crossLegs = struct {
	once sync.Once
	reps []matrix.Report
}{}

func crossLegsOnce(ctx context.Context) []matrix.Report {
	crossLegs.once.Do(func() { crossLegs.reps = CrossLegs(ctx, io.Discard) })
	return crossLegs.reps
}
