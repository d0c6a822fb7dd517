package world

import "os"

// OpenRegularNoFollow opens path: on Windows the suite acts as one user,
// and file ownership is not checked here (tcp.portfile-dacl reads the
// DACL); --forks and other-uid plants are refused there.
func OpenRegularNoFollow(path string, owner int) (*os.File, error) { return os.Open(path) }
