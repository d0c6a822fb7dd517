package stage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"

	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// Group bits are a way in only for a group the attacker is in or one every
// user is in; other groups are reported, not failed.
func TestReachJudgeGroups(t *testing.T) {
	dir := testenv.TempDir(t)
	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	os.WriteFile(passwd, []byte(strings.Join([]string{
		"root:x:0:0::/root:/bin/sh",
		"nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin",
		"alice:x:1000:1000::/home/alice:/bin/sh",
		"mallory:x:1001:1001::/home/mallory:/bin/sh",
		"svc:x:1002:1002::/:/usr/sbin/nologin",
	}, "\n")), 0o644)
	os.WriteFile(group, []byte(strings.Join([]string{
		"root:x:0:",
		"docker:x:999:alice",
		"users:x:100:alice,mallory,svc",
		"daemononly:x:4000:svc",
		"mallorys:x:1001:",
	}, "\n")), 0o644)
	db := readGroupDB(passwd, group)
	attacker, _ := db.account(1001)
	in := append([]int{attacker.gid}, db.groupsOf(attacker)...)
	j := ReachJudge{db: db, daemonUID: 1002, attackerUID: 1001, attackerIn: in}
	dir0755 := world.Facts{Exists: true, Kind: "dir", Mode: 0o755, UID: 1002, GID: 1002}
	sock := func(mode uint32, gid int) world.Facts {
		return world.Facts{Exists: true, Kind: "socket", Mode: mode, UID: 1002, GID: gid}
	}
	for _, c := range []struct {
		name      string
		sock, dir world.Facts
		want      bool
	}{
		{"0660 root:docker, attacker not in docker", sock(0o660, 999), dir0755, false},
		{"0660 of gid 0", sock(0o660, 0), dir0755, false},
		{"0660 of a group only the daemon's uid is in", sock(0o660, 4000), dir0755, false},
		{"0660 of a gid with no entry", sock(0o660, 4242), dir0755, false},
		{"0660 of users, which every account is in", sock(0o660, 100), dir0755, true},
		{"0660 of the attacker's primary group", sock(0o660, 1001), dir0755, true},
		{"0660 of the overflow gid", sock(0o660, 65534), dir0755, true},
		{"0666: every uid", sock(0o666, 999), dir0755, true},
		{"0660 docker in a 0750 dir of docker", sock(0o660, 999), world.Facts{Exists: true, Kind: "dir", Mode: 0o750, UID: 1002, GID: 999}, false},
		{"0666 in a 0750 dir of docker", sock(0o666, 999), world.Facts{Exists: true, Kind: "dir", Mode: 0o750, UID: 1002, GID: 999}, false},
		{"0606 with the attacker in the group: others still get in", sock(0o606, 1001), dir0755, true},
	} {
		if got, why := j.CanConnect(c.sock, c.dir); got != c.want {
			t.Errorf("%s: canConnect %v (%s), want %v", c.name, got, why, c.want)
		}
	}
	// The attacker modelled in docker (--attacker-groups 999).
	j.attackerIn = append(j.attackerIn, 999)
	if got, _ := j.CanConnect(sock(0o660, 999), dir0755); !got {
		t.Errorf("0660 root:docker with the attacker in docker: not reachable, want reachable")
	}
	g := j.groupAccess("socket", sock(0o660, 999))
	for _, want := range []string{"docker (gid 999)", "alice (members)", "attacker uid 1001"} {
		if !strings.Contains(g, want) {
			t.Errorf("group access %q does not say %q", g, want)
		}
	}
	if got := db.groupsOf(attacker); len(got) != 1 || got[0] != 100 {
		t.Errorf("mallory's groups from /etc/group: %v, want [100]", got)
	}
}
