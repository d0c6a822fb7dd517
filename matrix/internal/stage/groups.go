package stage

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// A file's group bits let in the group's members, not "other uids": a
// socket 0660 root:docker in a 0755 directory admits the members of
// docker and no one else (Docker's fix for CVE-2014-3499). The scenarios
// that judge whether other uids can reach the socket (sock.mode-umask0,
// sock.first-seen-mode, dir.loose-perms) count group access as a way in
// only for a group the attacker is in, or one any user is in; every other
// group is reported as what it is (its name, gid and the users it admits)
// and is not a failure.

// account is one /etc/passwd entry.
type account struct {
	name     string
	uid, gid int
}

// groupDB is /etc/passwd and /etc/group as read at the start of a run.
// macOS keeps most accounts in Directory Services, not in these files:
// there a group not found here is reported by number, with the members the
// files list.
type groupDB struct {
	names    map[int]string
	members  map[int][]string // gid -> the names /etc/group lists
	accounts []account
	// err: why a file could not be read ("" when both were).
	err string
}

func readGroupDB(passwd, group string) *groupDB {
	db := &groupDB{names: map[int]string{}, members: map[int][]string{}}
	var errs []string
	if err := eachLine(passwd, func(f []string) {
		if len(f) < 4 {
			return
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 == nil && err2 == nil {
			db.accounts = append(db.accounts, account{name: f[0], uid: uid, gid: gid})
		}
	}); err != nil {
		errs = append(errs, err.Error())
	}
	if err := eachLine(group, func(f []string) {
		if len(f) < 4 {
			return
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			return
		}
		if _, ok := db.names[gid]; !ok {
			db.names[gid] = f[0]
		}
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" && !slices.Contains(db.members[gid], m) {
				db.members[gid] = append(db.members[gid], m)
			}
		}
	}); err != nil {
		errs = append(errs, err.Error())
	}
	db.err = strings.Join(errs, "; ")
	return db
}

// eachLine calls f with the colon-separated fields of each line of path
// that is not a comment.
func eachLine(path string, f func([]string)) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f(strings.Split(line, ":"))
	}
	return sc.Err()
}

func (db *groupDB) account(uid int) (account, bool) {
	for _, a := range db.accounts {
		if a.uid == uid {
			return a, true
		}
	}
	return account{}, false
}

// groupsOf are the supplementary groups a login of a gives it: every
// group whose /etc/group entry lists a's name (as initgroups does).
func (db *groupDB) groupsOf(a account) []int {
	var gids []int
	for gid, ms := range db.members {
		if slices.Contains(ms, a.name) && gid != a.gid {
			gids = append(gids, gid)
		}
	}
	slices.Sort(gids)
	return gids
}

// admits lists the users gid lets in: the members /etc/group names, then
// the accounts whose primary group it is.
func (db *groupDB) admits(gid int) (members, primary []string) {
	members = append(members, db.members[gid]...)
	for _, a := range db.accounts {
		if a.gid == gid {
			primary = append(primary, a.name)
		}
	}
	return members, primary
}

// overflowGID is the kernel's overflow gid (nogroup/nobody): what a file of
// an unmapped group shows inside a user namespace, and the group
// unprivileged services run as. Any user can obtain it.
const overflowGID = 65534

// openToAll says why any user is in gid, or "" if not. Nobody can join a
// Unix group of their own accord (only root, or a group password in
// gshadow, can add a member): a group is taken as open to any user when
// it is the overflow gid, or when every ordinary account on this host
// (uid 1000 up, except nobody) is in it and there is at least one such
// account besides the daemon's uid (a "users" group everyone is put in).
// gid 0 is never open; nor is a group whose only member is the daemon's
// uid.
func (db *groupDB) openToAll(gid, daemonUID int) string {
	if gid == 0 {
		return ""
	}
	if gid == overflowGID {
		return fmt.Sprintf("gid %d is the overflow gid (nogroup): any process can end up with it", overflowGID)
	}
	name := db.names[gid]
	n := 0
	for _, a := range db.accounts {
		if a.uid < 1000 || a.uid == overflowGID {
			continue
		}
		if a.gid != gid && !slices.Contains(db.members[gid], a.name) {
			return ""
		}
		if a.uid != daemonUID {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("every one of the %d ordinary accounts (uid 1000 up) in /etc/passwd is in %s", n, orGID(name, gid))
}

func orGID(name string, gid int) string {
	if name == "" {
		return fmt.Sprintf("gid %d", gid)
	}
	return fmt.Sprintf("%s (gid %d)", name, gid)
}

// ReachJudge decides whether uids other than a file's owner may use it:
// the attacker (its uid and the groups it holds), or any user.
type ReachJudge struct {
	db          *groupDB
	daemonUID   int
	attackerUID int   // -1: no attacker uid in this run (not root)
	attackerIn  []int // the attacker's primary and supplementary gids
}

// lets says whether someone other than f's owner gets the permission bit
// (2 write, 1 search/execute) on f, and how: through the "other" bits, or
// through the group bits of a group the attacker is in or any user is in.
// The kernel checks the owner bits for the owner, then the group bits for
// a member, then the other bits: an attacker in the group is held to the
// group bits, but anyone outside it gets the other bits.
func (j ReachJudge) lets(f world.Facts, bit uint32) (bool, string) {
	if f.Mode&bit != 0 {
		return true, fmt.Sprintf("mode %04o lets every uid", f.Mode)
	}
	if f.Mode&(bit<<3) == 0 {
		return false, ""
	}
	if why := j.groupWay(f.GID); why != "" {
		return true, fmt.Sprintf("mode %04o lets group %s, %s", f.Mode, orGID(j.database().names[f.GID], f.GID), why)
	}
	return false, ""
}

// database is the judge's groupDB, an empty one for a Runner made without
// Run (tests).
func (j ReachJudge) database() *groupDB {
	if j.db == nil {
		return &groupDB{names: map[int]string{}, members: map[int][]string{}}
	}
	return j.db
}

// groupWay says why the attacker can act as a member of gid ("" if not).
func (j ReachJudge) groupWay(gid int) string {
	if j.attackerUID >= 0 && slices.Contains(j.attackerIn, gid) {
		return fmt.Sprintf("which the attacker uid %d is in", j.attackerUID)
	}
	return j.database().openToAll(gid, j.daemonUID)
}

// CanConnect says whether another uid could connect to a socket like sock
// in a directory like dir (write on the socket, search on the directory),
// and why.
func (j ReachJudge) CanConnect(sock, dir world.Facts) (bool, string) {
	w, why1 := j.lets(sock, 0o2)
	x, why2 := j.lets(dir, 0o1)
	if !w || !x {
		return false, ""
	}
	return true, fmt.Sprintf("socket: %s; dir: %s", why1, why2)
}

// CanReplace says whether another uid could replace or remove entries in
// dir (write on a directory without the sticky bit), and why.
func (j ReachJudge) CanReplace(dir world.Facts) (bool, string) {
	if dir.Mode&0o1000 != 0 {
		return false, ""
	}
	return j.lets(dir, 0o2)
}

// groupAccess describes what the group bits of f (a socket's write, a
// directory's search or write) admit, for the evidence; "" when they give
// the group nothing the other bits do not give everyone.
func (j ReachJudge) groupAccess(what string, f world.Facts) string {
	if !f.Exists || groupBeyondOther(f)&0o3 == 0 || f.GID < 0 {
		return ""
	}
	members, primary := j.database().admits(f.GID)
	s := fmt.Sprintf("%s group %s, mode %04o", what, orGID(j.database().names[f.GID], f.GID), f.Mode)
	switch {
	case len(members) == 0 && len(primary) == 0:
		s += ", admits no user named in /etc/group or /etc/passwd"
	default:
		s += ", admits"
		if len(members) > 0 {
			s += " " + strings.Join(members, ", ") + " (members)"
		}
		if len(primary) > 0 {
			s += " " + strings.Join(primary, ", ") + " (primary group)"
		}
	}
	if way := j.groupWay(f.GID); way != "" {
		s += "; " + way
	} else if j.attackerUID >= 0 {
		s += fmt.Sprintf("; the attacker uid %d (gids %v) is not in it, and it is not a group every user is in", j.attackerUID, j.attackerIn)
	} else {
		s += "; no attacker uid in this run, and it is not a group every user is in"
	}
	if j.database().err != "" {
		s += " (" + j.database().err + ")"
	}
	return s
}

// NoteGroups notes the group access of a socket and its directory.
func (e *Env) NoteGroups(sock, dir world.Facts) {
	j := e.Runner.Reach
	for _, g := range []string{j.groupAccess("socket", sock), j.groupAccess("dir", dir)} {
		if g != "" {
			e.Note("group access: %s", g)
		}
	}
}

// GroupOnly is a pass's note that the group bits of sock or dir were
// judged as the group's own access ("" when there are none).
func GroupOnly(sock, dir world.Facts) string {
	if groupBeyondOther(sock)&0o2 == 0 && groupBeyondOther(dir)&0o3 == 0 {
		return ""
	}
	return " (the group bits admit only the group's members: see the group access noted)"
}

// groupBeyondOther are the rwx bits (as 0o7) f's group has and others lack.
func groupBeyondOther(f world.Facts) uint32 { return (f.Mode >> 3) &^ f.Mode & 0o7 }
