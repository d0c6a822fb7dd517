package stage

import "fmt"

// adminsSID is BUILTIN\Administrators.
const adminsSID = "S-1-5-32-544"

// PortFileOwnerOK judges a port file's owner as Windows assigns owners
// (docs/scenarios/tcp.portfile-dacl.md has Microsoft's words): a new file
// is owned by the creator's token's default owner (TokenOwner) unless its
// security descriptor names one. That is the user, or, for a member of
// Administrators whose token defaults to the group (an elevated
// administrator; Windows Server's default), BUILTIN\Administrators. Either
// may own the file: the group holds no one the threat model keeps out
// (administrators can take any file). Any other owner fails: that owner
// could rewrite the DACL. tokenOwner is the default owner of the suite's
// token, which runs the daemon as the same user with the same token.
func PortFileOwnerOK(owner, user, tokenOwner string) (string, error) {
	switch {
	case owner == user:
		return "owned by the user", nil
	case owner == adminsSID && tokenOwner == adminsSID:
		return "owned by BUILTIN\\Administrators, the default owner in the user's token", nil
	case owner == adminsSID:
		return "", fmt.Errorf("the port file is owned by BUILTIN\\Administrators (%s), but the user's token names %s as default owner: something else set the owner", adminsSID, tokenOwner)
	default:
		return "", fmt.Errorf("the port file is owned by %s, not the user %s (nor BUILTIN\\Administrators as the token's default owner)", owner, user)
	}
}
