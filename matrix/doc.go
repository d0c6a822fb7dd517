// Package matrix is the regression suite's public face: Run runs the
// scenario catalogue against a target (the builtin reference daemon or an
// external command) and returns the report of one leg. The suite itself
// lives in the packages under matrix/internal, mapped below.
//
// # Layout
//
// Imports point one way, down; each package's doc says what it holds and
// why it sits where it does:
//
//	matrix                    Run (fills in the catalogue), the public names
//	  |                       (re-exported: reexport_*.go), this map
//	scenario                  the catalogue: every scenario's entry and body
//	  |                       (the first families in scenarios.go, a file
//	  |                       per class of a real vulnerability)
//	stage                     the run (Runner, Config, preflight), the
//	  |                       scenario's world (Env: directories, plants,
//	  |                       the daemon and its start's processes, signals,
//	  |                       watches), the helper processes that act as
//	  |                       other uids, the verdict (verdict.go)
//	probe                     the clients of every protocol, refusals, the
//	  |                       daemon's authentication on every connection
//	target                    the daemon under test (Target, Protocol), the
//	  |                       result vocabulary, the hints that name flags
//	proc, world               leaves: what the kernel says about processes;
//	                          the filesystem as a privileged process touches it
//
// Why these boundaries:
//
//   - scenario above stage: a scenario is a body written against Env, and
//     the catalogue is only a list of them. The world names no scenario (a
//     scenario registers its own helper actions, says what it needs of an
//     external target and when it needs a connector), so a new scenario is
//     one file in scenario and nothing below changes.
//   - The verdict in one file: stage/verdict.go decides whether a scenario
//     applies, takes its body's outcome, then turns it into no verdict
//     when a plant was withdrawn, the run was cut short or an impostor
//     answered; its head lists the order. RunOne sets a Result's status
//     there and nowhere else.
//   - stage in one package: the runner, Env and the helper share the run's
//     state (its uids, its run directory's handle, its configuration), and
//     the helper's actions are the world's operations (plant, start, ping
//     as a uid). Cut apart they would pass that state through exported
//     fields both ways. Env.RunAs is the one way a scenario acts as a uid.
//   - probe below stage: the runner, the scenarios and the helper all
//     connect to daemons; a probe decides no verdict and changes no file,
//     so it can be read and tested without a run.
//   - target under every layer of the suite's own: each names a target, a
//     protocol and a status, and the messages of each name the flags that
//     fix them.
//   - proc and world are leaves (world imports nothing of the project; proc
//     only the ipc library, for its socket helpers), so the kernel's facts
//     and the security rules of the filesystem (the run directory's
//     os.Root, no-follow changes, the /tmp fallback walk, the one no-follow
//     reader) live in one place each. Which processes belong to a start is
//     stage's question, not proc's.
//
// Following one scenario, dir.symlink, from its entry to its Result opens
// six files: scenario/scenarios.go (its entry, its body and the helpers
// it calls), stage/env.go (the Env it plants and starts through),
// stage/plants.go (what the attacker planted, checked again), world/runfs.go
// and world/fsfacts_unix.go (the link target's facts and listing, read
// through the run directory's handle) and stage/verdict.go (whether it
// applies, and its Result). Under them, shared by every scenario, are how
// a plant runs as the attacker (Env.RunAs in stage/impostors.go, the
// helper process in stage/helper.go) and the no-follow reader
// (world/nofollow*.go).
//
// # Running with privilege
//
// The suite often runs as root, on machines with other users, in
// directories those users can write (every scenario root is 01777, like
// /tmp, because attackers must be able to plant things there). Its rule:
// when it runs with privilege, it never resolves a path through a
// directory that another uid can write. Each filesystem action inside a
// scenario is done either
//
//   - by a helper process (HelperCommand) running as the uid that owns the
//     place: the daemon's uid for the daemon's endpoint, the attacker's for
//     what the attacker plants. It starts as root, makes itself
//     non-dumpable and drops to the uid in its own process (dropToUID), and
//     its reply counts only with the MAC of a key it got before the drop
//     (stage.OpenHelperReply); or
//   - by this process through a directory handle without following links:
//     an os.Root opened on the run directory when it was made (world.RunFS), or
//     an os.Root on the directory of a plant, or *at calls with
//     O_NOFOLLOW / AT_SYMLINK_NOFOLLOW (golang.org/x/sys/unix). Never
//     os.Root's Chmod, which follows a final link that stays inside the
//     root: world.ChmodNoFollowIn opens the name O_PATH|O_NOFOLLOW and changes
//     only a socket or directory of the acting uid. Never os.OpenRoot on a
//     path outside the run directory (it follows links in the path): the
//     sun_path fallback is walked from /tmp with O_NOFOLLOW, each parent
//     the daemon uid's and not writable by others (stage.PlantOp.doOutside, on world.OpenTmpParent).
//
// What that gives, against a local uid that races a run as root:
//
//   - Scenario parents and roots are made 01777 with os.ModeSticky (the
//     number 0o1777 loses the sticky bit in os.Chmod): no other uid can
//     rename or remove the daemon's or the suite's entries there. A root
//     stays 0700 until the daemon needs it (Env.OpenRoot), so no one takes
//     the daemon's names first.
//   - What another uid planted is checked again when the daemon is ready
//     and at judgement (checkPlants), and only the daemon uid's entries
//     count against it (DaemonsOnly): the attacker uid can turn a scenario
//     into an error, never into a pass.
//   - The run directory is removed with os.RemoveAll on Unix, which works
//     relative to directory handles opened with O_NOFOLLOW: a directory
//     swapped for a link while the tree is removed makes it unlink the link.
//     (The walk of internal/fsx that Wine needs is built on Windows only,
//     where no other uid acts in a run.)
//   - The suite's own clients authenticate the daemon on every connection
//     they make to judge it (readiness, pings, requests, loads): the socket
//     must be owned by the daemon's uid (lstat through a handle on its
//     directory, not following it), and the peer credentials
//     (SO_PEERCRED, LOCAL_PEERCRED) must name the daemon's uid and one of
//     the daemons the suite started or a descendant. A Linux abstract
//     socket name (--socket @NAME) has no file: the peer credentials alone
//     decide, as any process of the network namespace may have bound the
//     name first. A port file must be a
//     regular file of the daemon's uid, opened with O_NOFOLLOW. Anything
//     else is an impostor: the scenario ends with status Error and the
//     evidence, never as a pass.
//   - An exec probe (--protocol exec) is a program of the user's that the
//     suite runs as the daemon's uid (root, by default), on a path that
//     dir.* scenarios put in directories an attacker can write. Before
//     one of the suite's runs, every directory from / to the socket (the
//     port file over TCP) is opened with O_NOFOLLOW and must be root's or
//     the daemon uid's and writable by group or others only when sticky
//     (a link is followed only when it is root's or the daemon uid's); the
//     socket must be one of the daemon's uid; and a connection of the
//     suite's own must pass the peer-credential check above. Otherwise the
//     probe does not run: the daemon counts as not answering there (never
//     a pass on the probe's word), a dir.* scenario judges what the daemon
//     made in the attacker's directory, and another uid answering the
//     peer check is an impostor (Error). After the check no other uid can
//     change what the path names. An abstract name has no directories to
//     walk: the peer-credential check is all there is before the probe.
//     Probes get the minimal environment plus Target.Env (--env), never
//     the suite's, and run in a process group of their own that is killed
//     when the probe returns or its context ends. An attacker's probe runs
//     as the attacker's uid and never as root.
//   - Nothing secret goes into argv: a helper's argument, and the daemon's
//     exec spec with its environment, travel on the helper's stdin. Helpers
//     get a minimal environment (PATH, LANG, HOME=/nonexistent), nothing of
//     the caller's. Daemons get the caller's environment plus Target.Env
//     (--env), or with Config.EnvClear (--env-clear) the minimal one plus
//     Target.Env.
//
// What is not defended: the daemon under test runs as the daemon uid,
// which is the suite's own (root) unless --daemon-uid says otherwise;
// metadata read for evidence (lstat of the socket, its directory, a
// planted target) resolves paths, never writes, and never follows a final
// link, so a race there can change what a scenario reports about a process
// of the same run but cannot make root change a file; a value given with
// --env is on the suite's own command line, which every local user can
// read.
package matrix
