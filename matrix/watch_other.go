//go:build !linux

package matrix

// watchNative: no inotify here; polling alone watches.
func watchNative(w *firstSeen) func() { return nil }
