//go:build !windows

package stage

import "errors"

type aclFacts struct {
	Protected  bool
	Grants     []string
	User       string
	Owner      string
	TokenOwner string
	Wine       bool
}

func ReadDACL(path string) (aclFacts, error) {
	return aclFacts{}, errors.New("DACLs are Windows-only")
}
