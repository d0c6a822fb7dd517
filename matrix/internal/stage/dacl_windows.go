package stage

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// aclFacts is the port file's DACL as read back.
type aclFacts struct {
	Protected  bool
	Grants     []string // SIDs of the ACEs, as strings
	User       string   // this process's user SID
	Owner      string   // the file's owner SID
	TokenOwner string   // this process's token's default owner SID (TokenOwner)
	Wine       bool     // running under Wine (which neither stores nor enforces ACLs)
}

// tokenDefaultOwner is the SID new objects of this process get as owner
// (GetTokenInformation TokenOwner): the user, or a group of the token
// such as BUILTIN\Administrators.
func tokenDefaultOwner() (string, error) {
	buf := make([]byte, 128)
	for {
		var n uint32
		err := windows.GetTokenInformation(windows.GetCurrentProcessToken(), windows.TokenOwner, &buf[0], uint32(len(buf)), &n)
		if err == windows.ERROR_INSUFFICIENT_BUFFER && int(n) > len(buf) {
			buf = make([]byte, n)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("token default owner: %w", err)
		}
		// TOKEN_OWNER: one pointer to a SID inside buf.
		return (*struct{ Owner *windows.SID })(unsafe.Pointer(&buf[0])).Owner.String(), nil
	}
}

// ReadDACL reads back path's DACL with GetNamedSecurityInfo.
func ReadDACL(path string) (aclFacts, error) {
	var f aclFacts
	f.Wine = windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return f, fmt.Errorf("current user: %w", err)
	}
	f.User = u.User.Sid.String()
	if f.TokenOwner, err = tokenDefaultOwner(); err != nil {
		return f, err
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return f, fmt.Errorf("GetNamedSecurityInfo %s: %w", path, err)
	}
	if owner, _, err := sd.Owner(); err == nil && owner != nil {
		f.Owner = owner.String()
	}
	ctl, _, err := sd.Control()
	if err != nil {
		return f, err
	}
	f.Protected = ctl&windows.SE_DACL_PROTECTED != 0
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return f, fmt.Errorf("no DACL on %s (%v): everyone has access", path, err)
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return f, fmt.Errorf("GetAce %d: %w", i, err)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		f.Grants = append(f.Grants, fmt.Sprintf("%s (type %d, mask %#x)", sid.String(), ace.Header.AceType, ace.Mask))
	}
	return f, nil
}
