package stage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// plantIdentity is what identifies an entry a scenario planted: lstat's
// device and inode, the type, the owner and a symlink's target.
//
// The mode is part of it: the planting uid may chmod its own plant (a
// directory made 0700 after the plant makes a daemon that uses it as it
// finds it fail at bind, which looked like a refusal), and what the daemon
// meets must be what the scenario planted.
type plantIdentity struct {
	Dev, Ino uint64
	Kind     string
	UID      int
	Mode     uint32 // permission bits with setuid, setgid and sticky (07777)
	Link     string
}

func (p plantIdentity) String() string {
	s := fmt.Sprintf("%s %04o of uid %d (dev %d ino %d)", p.Kind, p.Mode, p.UID, p.Dev, p.Ino)
	if p.Link != "" {
		s += " -> " + p.Link
	}
	return s
}

// plantRecord is a plant of another uid than the daemon's, as it was
// right after it was made.
type plantRecord struct {
	uid  int
	path string
	id   plantIdentity
}

// identify is path's identity, from an lstat that follows no link: inside
// the run directory through its handle (os.Root: the final name is not
// followed, and the directories above it are the suite's own), outside it
// (the sun_path fallback under /tmp) walked from /tmp with O_NOFOLLOW.
func (e *Env) identify(path string) (plantIdentity, error) {
	if rel, err := e.Runner.FS.Rel(path); err == nil && e.Runner.FS.Root != nil {
		fi, err := e.Runner.FS.Root.Lstat(rel)
		if err != nil {
			return plantIdentity{}, err
		}
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = e.Runner.FS.Root.Readlink(rel); err != nil {
				return plantIdentity{}, err
			}
		}
		return identityOf(fi, link), nil
	}
	return identifyOutside(path)
}

// recordPlant notes the identity of what uid (not the daemon's) planted at
// op.Path, so that checkPlants can tell it was withdrawn or replaced.
//
// Race point: between the helper's op and this lstat the planting uid may
// already have changed its plant. What is recorded must then still be
// what the op makes (its type, its owner, a link's target); anything else
// is interference from the start. A plant swapped for an equal one
// (another inode, same type, owner and target) before the record is no
// gain to that uid: the scenario is run against an equal plant, and its
// withdrawal after this point is seen. (A plant removed and made again
// equal may get its inode number back and not be seen: the daemon then
// meets an equal plant.)
func (e *Env) recordPlant(uid int, op PlantOp) {
	id, err := e.identify(op.Path)
	want := map[string]string{"mkdir": "dir", "symlink": "symlink", "write": "file", "mkfifo": "fifo"}[op.Op]
	switch {
	case want == "":
		return // a chmod: nothing new to record
	case err != nil:
		e.interfered(fmt.Sprintf("right after it was planted, uid %d's %s at %s was gone: %v", uid, want, op.Path, err))
		return
	case id.Kind != want || id.UID != uid || id.Link != op.Target ||
		op.Op != "symlink" && op.Mode != 0 && id.Mode&0o777 != op.Mode&0o777:
		e.interfered(fmt.Sprintf("right after it was planted, uid %d's %s at %s had been replaced: %s is there", uid, want, op.Path, id))
		return
	}
	e.mu.Lock()
	e.plants = append(e.plants, plantRecord{uid: uid, path: op.Path, id: id})
	e.mu.Unlock()
}

// ForgetPlant stops checking the plant at path: a scenario whose verdict
// no longer rests on it (one the daemon may legitimately remove) says so.
func (e *Env) ForgetPlant(path string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.plants = slices.DeleteFunc(e.plants, func(p plantRecord) bool { return p.path == path })
}

// checkPlants lstats every recorded plant again (when: the moment, for the
// evidence); one gone or replaced is interference, which leaves the
// scenario without a verdict (judgePlants). It runs when the daemon has
// become ready (or given up) and when the scenario is judged: a plant
// withdrawn before the daemon's start and put back after it stopped (a
// hard link of a symlink keeps its inode) is seen at the first.
func (e *Env) checkPlants(when string) {
	e.mu.Lock()
	ps := append([]plantRecord(nil), e.plants...)
	e.mu.Unlock()
	for _, p := range ps {
		id, err := e.identify(p.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			e.interfered(fmt.Sprintf("%s, uid %d's %s at %s was gone (planted: %s)", when, p.uid, p.id.Kind, p.path, p.id))
		case err != nil:
			e.interfered(fmt.Sprintf("%s, uid %d's %s at %s could not be checked: %v", when, p.uid, p.id.Kind, p.path, err))
		case id != p.id && e.takenByDaemon(p.path, p.id, id):
			// The same entry, given to the daemon's uid (or root): the
			// planting uid cannot give a file away (chown needs
			// CAP_CHOWN), so the daemon did it, through the plant, and its
			// scenario judges that (dir.symlink: a chown through the link).
			e.Note("%s, uid %d's %s at %s was the same entry now owned by uid %d (planted: %s)", when, p.uid, p.id.Kind, p.path, id.UID, p.id)
		case id != p.id && modeOnly(p.id, id):
			// The same entry, its mode changed: by its own uid (which may
			// chmod its plant) or by the daemon (through it). Who cannot
			// be told, so it may not make a pass (judgePlants); a failure
			// that does not rest on the mode stands.
			e.mu.Lock()
			e.modeChanges = append(e.modeChanges, fmt.Sprintf("%s, uid %d's %s at %s had its mode changed: %04o, planted %04o", when, p.uid, p.id.Kind, p.path, id.Mode, p.id.Mode))
			e.mu.Unlock()
		case id != p.id:
			e.interfered(fmt.Sprintf("%s, uid %d's %s at %s had been replaced: %s is there (planted: %s)", when, p.uid, p.id.Kind, p.path, id, p.id))
		}
	}
}

// modeOnly: now is was (the same device, inode, type, owner and link
// target) with another mode.
func modeOnly(was, now plantIdentity) bool {
	now.Mode = was.Mode
	return now == was
}

// JudgedTakeover marks the plant at path as one whose taking by the
// daemon (its owner changed to the daemon's uid or root's at the same
// inode) the scenario judges (takenByDaemon); only for a plant nothing can
// make again at its path, such as a link's target.
func (e *Env) JudgedTakeover(path string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.takeover == nil {
		e.takeover = map[string]bool{}
	}
	e.takeover[path] = true
}

// takenByDaemon (for a plant marked by JudgedTakeover): now is was (the same device, inode, type and link
// target) with its owner changed to the daemon's uid or root's, which the
// planting uid cannot do (its mode may have changed with it: a chown and
// chmod through a link). A chmod alone is interference: the planting uid
// may chmod its own plant.
func (e *Env) takenByDaemon(path string, was, now plantIdentity) bool {
	e.mu.Lock()
	judged := e.takeover[path]
	e.mu.Unlock()
	if !judged {
		return false
	}
	same := now.Dev == was.Dev && now.Ino == was.Ino && now.Kind == was.Kind && now.Link == was.Link
	return same && now.UID != was.UID && (now.UID == e.Runner.DaemonUID || now.UID == os.Geteuid())
}

// interfered records what another uid did to the scenario's set-up; each
// distinct text once.
func (e *Env) interfered(what string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.interference {
		if s == what {
			return
		}
	}
	e.interference = append(e.interference, what)
}

// kindOfMode is kindOf's word for an os.FileMode.
func kindOfMode(m fs.FileMode) string {
	switch m.Type() {
	case fs.ModeDir:
		return "dir"
	case 0:
		return "file"
	case fs.ModeSymlink:
		return "symlink"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeNamedPipe:
		return "fifo"
	}
	return "other"
}

// DaemonsOnly keeps, of entries listed by Env.Tree, those of the daemon's
// uid or the suite's own; another uid's (a file another local user
// dropped in a scenario's 01777 directory, or the attacker uid in its own
// directory) do not count against the daemon: they are interference,
// which leaves the scenario without a verdict (judgePlants), naming the
// uid. Issue 24: dropped files made the builtin daemon fail
// inst.clean-shutdown ("left behind") and path.name-validation.
func (e *Env) DaemonsOnly(entries []string) []string {
	var out []string
	foreign := map[int][]string{}
	for _, s := range entries {
		v, ok := e.Runner.FS.Owners.Load(s)
		uid, _ := v.(int)
		if !ok || uid == e.Runner.DaemonUID || uid == os.Geteuid() {
			out = append(out, s)
			continue
		}
		foreign[uid] = append(foreign[uid], s)
	}
	for uid, l := range foreign {
		shown := l[:min(len(l), 3)]
		more := ""
		if len(l) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(l)-len(shown))
		}
		e.interfered(fmt.Sprintf("uid %d, not the daemon's uid %d, made %d entries in the scenario's directories: %s%s", uid, e.Runner.DaemonUID, len(l), strings.Join(shown, ", "), more))
	}
	return out
}

// foreignEndpointDir says who made the endpoint directory's path when it
// is another uid than the daemon's or the suite's and not a plant of the
// scenario ("" otherwise): another local user may have taken the name
// before the daemon (issue 24), which is no fault of the daemon's.
func (e *Env) foreignEndpointDir() string {
	if e.RootIsDir || e.EndpointDir == "" {
		return ""
	}
	id, err := e.identify(e.EndpointDir)
	if err != nil || id.UID == e.Runner.DaemonUID || id.UID == os.Geteuid() {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.plants {
		if p.path == e.EndpointDir {
			return ""
		}
	}
	return fmt.Sprintf("uid %d, not the daemon's uid %d, made %s (%s) before the daemon", id.UID, e.Runner.DaemonUID, e.EndpointDir, id)
}
