package stage

import (
	"slices"
	"strings"
)

// PerUserEnv sets, in env, the base a daemon that chooses its own is
// given: for a PerUserBase target in every scenario, and for the builtin
// in dir.squat-dos (started with no --root). The suite's own values of
// chooseBaseVars (and the target's --env ones) are removed; TMPDIR is
// root, the scenario's shared root (as /tmp is); XDG_RUNTIME_DIR is the
// per-user base when the scenario gives one (dir.squat-dos).
func (e *Env) PerUserEnv(env []string, root string) []string {
	t := e.Runner.Config.Target
	if !t.PerUserBase && !(t.Builtin && e.PrivateBase != "") {
		return env
	}
	env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(chooseBaseVars, k)
	})
	env = append(env, "TMPDIR="+root)
	if e.PrivateBase != "" {
		env = append(env, "XDG_RUNTIME_DIR="+e.PrivateBase)
	}
	return env
}

// daemonArgv is the target's command for root and name; in dir.squat-dos
// the builtin gets no --root, so that it chooses its own.
func (e *Env) daemonArgv(root, name string) []string {
	t := e.Runner.Config.Target
	if t.Builtin && e.PrivateBase != "" {
		root = ""
	}
	return t.Argv(e.Runner.exe, root, name, e.Transport)
}

// chooseBaseVars are the variables a daemon that chooses its own base
// reads (ipc.DefaultRoot's order); PerUserEnv sets them.
var chooseBaseVars = []string{"BH_RUNTIME_DIR", "XDG_RUNTIME_DIR", "TMPDIR"}
