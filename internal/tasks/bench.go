package tasks

import (
	"context"
	"errors"
	"io"
)

// Bench runs the ipc benchmarks (filled in by the performance work).
func Bench(ctx context.Context, w io.Writer) error {
	return errors.New("bench: not implemented yet")
}
