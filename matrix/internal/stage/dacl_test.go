package stage

import (
	"strings"
	"testing"
)

// tcp.portfile-dacl's owner rule: the user, or BUILTIN\Administrators when
// that is the default owner in the user's token; nothing else.
func TestPortFileOwnerOK(t *testing.T) {
	const user, other = "S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-1002"
	for _, c := range []struct {
		name, owner, tokenOwner string
		want                    string // "" = accepted; else part of the error
	}{
		{"the user", user, user, ""},
		{"the user, token defaults to Administrators", user, adminsSID, ""},
		{"Administrators, the token's default owner", adminsSID, adminsSID, ""},
		{"Administrators, not the token's default", adminsSID, user, "names " + user + " as default owner"},
		{"another user", other, user, "owned by " + other},
		{"another user, token defaults to Administrators", other, adminsSID, "owned by " + other},
		{"SYSTEM", "S-1-5-18", adminsSID, "owned by S-1-5-18"},
	} {
		_, err := PortFileOwnerOK(c.owner, user, c.tokenOwner)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}
