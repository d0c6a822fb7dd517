package probe

import (
	"errors"
)

func isBacklogFull(err error) bool { return false }

func FillBacklog(path string, max int) (int, bool, func(), error) {
	return 0, false, func() {}, errors.New("not available on windows")
}
