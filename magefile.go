//go:build mage

// Mage targets for bh-ipc-check: one line each; the logic lives in
// internal/tasks (tested) and the packages it calls. Run with go tool mage.
package main

import (
	"context"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/org/bh-ipc-check/internal/tasks"
)

// Test groups the test targets.
type Test mg.Namespace

// Build builds bin/bh-ipc-check, static (CGO_ENABLED=0).
func Build(ctx context.Context) error { _, err := tasks.Build(ctx, os.Stdout); return err }

// Smoke builds the CLI, runs the daemon under umask 0 over unix and tcp, pings, lists, checks modes, stops it and checks nothing is left.
func Smoke(ctx context.Context) error { return tasks.Smoke(ctx, os.Stdout) }

// Unit runs the Go tests of every package but the container legs, with -race.
func (Test) Unit(ctx context.Context) error { return tasks.UnitTests(ctx, os.Stdout) }

// Matrix runs the native, container, cross (and Wine, when set up) legs into one report under reports/matrix.
func (Test) Matrix(ctx context.Context) error { return tasks.Matrix(ctx, os.Stdout) }

// Containers runs just the Linux container legs (needs a Docker engine: scripts/ensure-docker.sh).
func (Test) Containers(ctx context.Context) error { return tasks.Containers(ctx, os.Stdout) }

// Cross vets and compiles every package for darwin and windows, reported as legs.
func (Test) Cross(ctx context.Context) error { return tasks.Cross(ctx, os.Stdout) }

// Action runs the action self-test workflow for real with act (host mode, offline).
func (Test) Action(ctx context.Context) error {
	_, err := tasks.ActSelfTest(ctx, os.Stdout)
	return err
}

// Wine sets Wine up (scripts/wine), runs the ipc tests as a Windows binary under it, and the windows/wine leg.
func (Test) Wine(ctx context.Context) error { return tasks.Wine(ctx, os.Stdout) }

// Lint runs gofmt, go vet (host, darwin, windows) and actionlint on the workflows.
func Lint(ctx context.Context) error { return tasks.Lint(ctx, os.Stdout) }

// Bench runs the ipc benchmarks beside their same-run baselines and prints the ratios.
func Bench(ctx context.Context) error { return tasks.Bench(ctx, os.Stdout) }

// Flips runs scenarios N times against chosen targets (optionally beside CPU hogs) and prints the verdict sets seen; fails on a flip. BH_FLIPS_TARGETS (handoff,prefork,prefork-recover,ssh-agent-forks,ssh-agent,builtin), BH_FLIPS_SCENARIOS (inst.*), BH_FLIPS_RUNS (5), BH_FLIPS_HOGS (0).
func Flips(ctx context.Context) error { return tasks.FlipsFromEnv(ctx, os.Stdout) }

// Clean removes bin/, reports/ and any container or image a killed run left behind.
func Clean(ctx context.Context) error { return tasks.Clean(ctx, os.Stdout) }
