package world

import "os"

// ChmodNoFollowIn: no other uid acts in a run on Windows (see doc.go).
func ChmodNoFollowIn(r *os.Root, rel string, mode os.FileMode) error {
	return r.Chmod(rel, mode)
}
