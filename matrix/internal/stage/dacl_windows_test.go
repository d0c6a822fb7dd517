package stage

import (
	"testing"

	"golang.org/x/sys/windows"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// The token's default owner reads back (under Wine too), and it is the
// user or BUILTIN\Administrators (an elevated administrator's).
func TestTokenDefaultOwner(t *testing.T) {
	got, err := tokenDefaultOwner()
	if err != nil {
		t.Fatal(err)
	}
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	user := u.User.Sid.String()
	if got != user && got != adminsSID {
		testenv.SkipUnderWine(t, "the call works, but Wine's token names "+got+" as default owner, neither the user "+user+" nor Administrators")
		t.Errorf("token default owner %s: neither the user %s nor Administrators %s", got, user, adminsSID)
	}
	t.Logf("token default owner %s", got)
}
