// Package probe is how the suite talks to a daemon and decides whether
// the daemon it reached is the one it started: the clients of every
// protocol (bh-json and ipc pings, requests, loads, malformed input and
// idle connections; connect, line and exec probes), what an attacker's
// connection met (ConnectResult) and whether that was a refusal
// (RefusalOf, the stall watch), and the authentication of the daemon on
// every connection the suite makes to judge it: the socket's owner, peer
// credentials naming the daemon's uid and a process of the start
// (DaemonIdentity), a port file opened without following links, the
// listener of a TCP port, and the directory chain an exec probe runs
// through. An impostor is reported as an ImpostorError and logged in the
// context (WithImpostorLog), so a helper process carries it back even
// when the action's own result hides it.
//
// It sits below the runner, the catalogue and the other-uid helper (all
// of them connect to daemons) and above target (a probe is built from
// the Target's protocol and templates). It decides no verdict: what a
// reply, a refusal or an impostor means for a scenario is the question
// of the catalogue's bodies and of stage/verdict.go. It never changes the filesystem, and it runs as whatever uid
// its caller is: the helper runs it as another uid.
package probe
