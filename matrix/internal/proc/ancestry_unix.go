//go:build unix

package proc

// DescendsFrom reports whether pid is one of pids or a descendant of one,
// following parent pids (parentPID) up to init.
func DescendsFrom(pid int, pids []int) bool {
	for p, hops := pid, 0; p > 1 && hops < 64; hops++ {
		for _, want := range pids {
			if p == want {
				return true
			}
		}
		pp, err := parentPID(p)
		if err != nil {
			return false
		}
		p = pp
	}
	return false
}
