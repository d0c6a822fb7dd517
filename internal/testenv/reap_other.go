//go:build !linux

package testenv

// startReaper: the reaper reads /proc; elsewhere there is none.
func startReaper() error { return nil }

// runReaper: no reaper is started here, so none runs.
func runReaper(string) int { return 0 }
