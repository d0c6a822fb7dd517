package stage

import "os"

func identityOf(fi os.FileInfo, link string) plantIdentity {
	return plantIdentity{Kind: kindOfMode(fi.Mode()), Link: link}
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
