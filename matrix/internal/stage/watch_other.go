//go:build !linux

package stage

// watchNative: no inotify here; polling alone watches.
func watchNative(w *FirstSeen) func() { return nil }
