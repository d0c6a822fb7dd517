#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine.
#
# - An engine that already answers (`docker info`) is used as it is: this
#   script never restarts or reconfigures an engine it did not start.
# - Otherwise it installs Debian's docker.io when dockerd is missing (needs
#   root and apt), starts dockerd in the background, detached from this
#   shell's output, logging to $BH_DOCKERD_LOG, and waits until it answers.
# Idempotent: run it as often as you like.
#
# Environment: BH_DOCKERD_LOG (default /var/log/bh-ipc-check-dockerd.log),
# BH_DOCKER_WAIT seconds to wait for the engine (default 60).
set -euo pipefail

log=${BH_DOCKERD_LOG:-/var/log/bh-ipc-check-dockerd.log}
wait_s=${BH_DOCKER_WAIT:-60}

say() { printf 'ensure-docker: %s\n' "$*" >&2; }

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
	say "engine already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')); leaving it alone"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	say "no Docker engine answers and starting one needs root (this is uid $(id -u)); start one, or set DOCKER_HOST"
	exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
	say "dockerd is missing: installing Debian's docker.io"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq docker.io >&2
	# The package may have started an engine through its service scripts.
	if docker info >/dev/null 2>&1; then
		say "engine started by the package"
		exit 0
	fi
fi

# is_running PIDFILE NAME: the pid file names a live process called NAME.
# After a crash or SIGKILL the file stays and its pid may since belong to
# another process, so the name is checked too.
is_running() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

# A dockerd that runs but does not answer yet is starting: wait for it
# rather than start a second one. Stale pid files (a killed engine) are
# removed, or dockerd refuses to start, or acts on an unrelated pid.
pidfile=/var/run/docker.pid
if is_running "$pidfile" dockerd; then
	say "dockerd (pid $(cat "$pidfile")) is running but not answering yet; waiting"
else
	for f in "$pidfile":dockerd /var/run/docker/containerd/containerd.pid:containerd; do
		if [ -e "${f%%:*}" ] && ! is_running "${f%%:*}" "${f##*:}"; then
			say "removing stale ${f%%:*} (its pid is not a running ${f##*:})"
			rm -f "${f%%:*}"
		fi
	done
	say "starting dockerd, log $log"
	mkdir -p "$(dirname "$log")"
	# setsid + redirections: no tie to this shell's terminal or pipes, so a
	# caller waiting on our output (CI, go test) is not held up by dockerd.
	setsid dockerd >>"$log" 2>&1 </dev/null &
fi

for ((i = 0; i < wait_s * 2; i++)); do
	if docker info >/dev/null 2>&1; then
		say "engine answers after $((i / 2))s"
		exit 0
	fi
	sleep 0.5
done
say "dockerd did not answer within ${wait_s}s; see $log:"
tail -n 20 "$log" >&2 || true
exit 1
