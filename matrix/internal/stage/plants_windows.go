package stage

import "os"

// identityOf: Windows gives a file no uid, so its UID is -1 (unknown), as
// world.Facts has it there, and as the suite's own uid is (os.Geteuid):
// an unknown owner is never taken for another uid's.
func identityOf(fi os.FileInfo, link string) plantIdentity {
	return plantIdentity{Kind: kindOfMode(fi.Mode()), UID: -1, Link: link}
}

// identifyOutside: nothing is planted outside the run directory on
// Windows (no sun_path fallback); the path is lstatted as it is.
func identifyOutside(path string) (plantIdentity, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return plantIdentity{}, err
	}
	var link string
	if fi.Mode()&os.ModeSymlink != 0 {
		link, _ = os.Readlink(path)
	}
	return identityOf(fi, link), nil
}
