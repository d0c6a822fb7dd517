#!/usr/bin/env bash
# The composite action's steps (action.yml). Inputs arrive only through
# environment variables, never pasted into this script.
#
#   action.sh key     the build's cache key (outputs key and dir)
#   action.sh build   build bh-ipc-check (static) into $RUNNER_TEMP, unless
#                     the cache restored it for $BH_BUILD_KEY; output bin
#   action.sh run     run the suite, write the reports (JSON, Markdown, JUnit,
#                     SARIF), publish outputs, the step summary and annotations;
#                     fail on a required failure
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${GITHUB_OUTPUT:-/dev/null}

# privilege MODE sets how the suite runs for the privileged input, in
# $how: root (already), sudo (through sudo -n), none (unprivileged); or it
# prints an ::error annotation and sets "error".
privilege() {
	local os can_sudo=false
	os=$(uname -s)
	if [ "$(id -u)" -eq 0 ]; then
		how=root
		return
	fi
	case "$os" in
	Linux | Darwin) sudo -n true 2>/dev/null && can_sudo=true ;;
	esac
	case "$1" in
	auto)
		if $can_sudo; then how=sudo; else how=none; fi
		;;
	true)
		if $can_sudo; then
			how=sudo
		else
			echo "::error title=bh-ipc-check::privileged: 'true' needs root or a working 'sudo -n' on a Linux or macOS runner ($os, uid $(id -u))"
			how=error
		fi
		;;
	false) how=none ;;
	*)
		echo "::error title=bh-ipc-check::privileged must be 'auto', 'true' or 'false', not '$1'"
		how=error
		;;
	esac
}

# bool INPUT VALUE FLAG adds FLAG to args for 'true', nothing for 'false'
# (or empty), and fails the step for anything else.
bool() {
	case "$2" in
	true) args+=("$3") ;;
	false | "") ;;
	*)
		echo "::error title=bh-ipc-check::$1 must be 'true' or 'false', not '$2'"
		exit 2
		;;
	esac
}

# each FLAG TEXT adds --FLAG=LINE to args for every non-blank line of TEXT
# (a multi-line input: one value a line; surrounding blanks and a CR are
# dropped).
each() {
	local line
	while IFS= read -r line || [ -n "$line" ]; do
		line=$(trim "$line")
		if [ -n "$line" ]; then
			args+=("--$1=$line")
		fi
	done <<<"$2"
}

# trim TEXT prints TEXT without leading and trailing blanks and CRs.
trim() {
	local s=$1
	s=${s%$'\r'}
	s="${s#"${s%%[![:space:]]*}"}"
	s="${s%"${s##*[![:space:]]}"}"
	printf '%s' "$s"
}

# flaglines TEXT adds the flags input to args: one flag a line, as
# --flag=value, --flag value or --flag; blank lines and lines starting with
# # are skipped. Each line becomes one argv word (--flag=value): no shell
# reads it, so quotes and $ are the value's own.
flaglines() {
	local line n=0 name value
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=$(trim "$line")
		case "$line" in
		"" | "#"*) continue ;;
		--?*) ;;
		*)
			echo "::error title=bh-ipc-check::flags line $n: '$line' is not a flag (want --flag=value, --flag value or --flag, one a line)"
			exit 2
			;;
		esac
		name=${line%%[= ]*}
		if [ "$name" = "$line" ]; then
			args+=("$line")
			continue
		fi
		value=${line#"$name"}
		if [ "${value:0:1}" = " " ]; then
			value=$(trim "$value")
		else
			value=${value#=}
		fi
		args+=("$name=$value")
	done <<<"$1"
}

# sha256 prints the SHA-256 of its stdin, hex (Linux, macOS, Git Bash).
sha256() {
	if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1
}

# finish STATUS sets the outputs every end of the run step sets, whatever
# it was (the action's inputs refused, a usage or setup error: exit 2;
# an interruption): exit-code, the suite's exit code (or STATUS, the
# step's, when the suite did not run); and, unless report github published
# them from a report, result=error and the paths of the reports that
# exist (empty for those that do not). The EXIT trap of the run step.
finish() {
	local status=$1 kind file
	echo "exit-code=${code:-$status}" >>"$out"
	if ! $published; then
		echo "result=error" >>"$out"
		for kind in json:report.json markdown:report.md sarif:report.sarif; do
			file=""
			if [ -n "${BH_REPORT_DIR:-}" ] && [ -f "$BH_REPORT_DIR/${kind#*:}" ]; then
				file=$BH_REPORT_DIR/${kind#*:}
			fi
			echo "report-${kind%%:*}=$file" >>"$out"
		done
	fi
}

# publish runs report github on the run's report (outputs, step summary,
# annotations); published is set when it read the report. It returns report
# github's status: 1 when a required scenario failed.
publish() {
	local rc=0
	"$BH_BIN" report github "$BH_REPORT_DIR/report.json" --markdown "$BH_REPORT_DIR/report.md" --sarif "$BH_REPORT_DIR/report.sarif" ${docs[@]+"${docs[@]}"} || rc=$?
	if [ "$rc" -le 1 ]; then
		published=true
	fi
	return "$rc"
}

builddir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/bh-ipc-check-action"

case "${1:-}" in
key)
	# The cache key of the built CLI: what decides the binary (the OS, the
	# architecture, the Go version, and every Go source, go.mod and go.sum
	# of the action), so a moved tag or a new Go never serves a stale one.
	src=$(cd "$here" && find . -path ./.git -prune -o \( -name '*.go' -o -name go.mod -o -name go.sum \) -type f -print | LC_ALL=C sort | xargs cat | sha256)
	key="bh-ipc-check-$(uname -s)-$(uname -m)-$(go env GOVERSION)-$src"
	echo "bh-ipc-check: build key $key"
	echo "key=$key" >>"$out"
	echo "dir=$builddir" >>"$out"
	;;
build)
	exe=bh-ipc-check
	case "${RUNNER_OS:-$(uname -s)}" in Windows*|MINGW*|MSYS*) exe=bh-ipc-check.exe ;; esac
	bin="$builddir/$exe"
	mkdir -p "$builddir"
	# A binary restored from the cache under this very key is used as it
	# is; the key file beside it says which build it is.
	if [ -n "${BH_BUILD_KEY:-}" ] && [ -x "$bin" ] && [ "$(cat "$bin.key" 2>/dev/null)" = "$BH_BUILD_KEY" ]; then
		echo "bh-ipc-check: using the cached build $bin ($BH_BUILD_KEY)"
	else
		start=$(date +%s)
		(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/bh-ipc-check)
		if [ -n "${BH_BUILD_KEY:-}" ]; then printf '%s' "$BH_BUILD_KEY" >"$bin.key"; fi
		echo "bh-ipc-check: built $bin with $(go version) in $(($(date +%s) - start)) s"
	fi
	echo "bin=$bin" >>"$out"
	;;
run)
	# The outputs are set however the step ends (finish).
	published=false
	code=""
	trap 'finish $?' EXIT
	: "${BH_BIN:?build step did not run}"
	args=(run --report-dir "$BH_REPORT_DIR" --name "$BH_NAME")
	if [ "$BH_TARGET" != builtin ]; then
		args+=(--cmd "$BH_TARGET" --socket "$BH_SOCKET")
	fi
	[ -n "$BH_PORT_FILE" ] && args+=(--port-file "$BH_PORT_FILE")
	[ -n "$BH_PROTOCOL" ] && args+=(--protocol "$BH_PROTOCOL")
	# The target's flags, each only when its input is set (the CLI's
	# defaults are the inputs' defaults).
	[ -n "${BH_SEND:-}" ] && args+=(--send "$BH_SEND")
	[ -n "${BH_SEND_FILE:-}" ] && args+=(--send-file "$BH_SEND_FILE")
	[ -n "${BH_EXPECT:-}" ] && args+=(--expect "$BH_EXPECT")
	[ -n "${BH_PROBE:-}" ] && args+=(--probe "$BH_PROBE")
	bool forks "${BH_FORKS:-}" --forks
	[ -n "${BH_PIDFILE:-}" ] && args+=(--pidfile "$BH_PIDFILE")
	case "${BH_DIR_CREATED_BY:-daemon}" in
	daemon | "") ;;
	*) args+=(--dir-created-by "$BH_DIR_CREATED_BY") ;;
	esac
	each env "${BH_ENV:-}"
	bool env-clear "${BH_ENV_CLEAR:-}" --env-clear
	each keep "${BH_KEEP:-}"
	[ -n "${BH_UMASK:-}" ] && [ "$BH_UMASK" != 000 ] && args+=(--umask "$BH_UMASK")
	[ -n "${BH_DAEMON_UID:-}" ] && args+=(--daemon-uid "$BH_DAEMON_UID")
	[ -n "${BH_ATTACKER_UID:-}" ] && args+=(--attacker-uid "$BH_ATTACKER_UID")
	[ -n "${BH_TIMEOUT:-}" ] && args+=(--timeout "$BH_TIMEOUT")
	[ -n "${BH_READY_TIMEOUT:-}" ] && args+=(--ready-timeout "$BH_READY_TIMEOUT")
	flaglines "${BH_FLAGS:-}"
	[ -n "$BH_SCENARIOS" ] && args+=(--scenarios "$BH_SCENARIOS")
	case "${BH_NATIVE:-true}" in
	true) ;;
	false) args+=(--native=false) ;;
	*)
		echo "::error title=bh-ipc-check::native must be 'true' or 'false', not '$BH_NATIVE'"
		exit 2
		;;
	esac
	[ -n "${BH_SARIF_LOCATION:-}" ] && args+=(--sarif-location "$BH_SARIF_LOCATION")
	# The fix pages of the action's own version; a local "uses: ./" has no
	# action repository, and the links stay relative.
	docs=()
	if [ -n "${BH_ACTION_REPOSITORY:-}" ] && [ -n "${BH_ACTION_REF:-}" ]; then
		docs=(--docs-url "${BH_ACTION_SERVER:-https://github.com}/$BH_ACTION_REPOSITORY/blob/$BH_ACTION_REF/")
	fi
	# ${a[@]+"${a[@]}"}: an empty array under set -u in macOS's bash 3.2.
	args+=(${docs[@]+"${docs[@]}"})
	case "$BH_CONTAINERS" in
	true)
		if [ "$(uname -s)" != Linux ]; then
			echo "::error title=bh-ipc-check::containers: 'true' needs a Linux runner (this is $(uname -s))"
			exit 2
		fi
		args+=(--containers)
		[ -n "$BH_IMAGE" ] && args+=(--image "$BH_IMAGE")
		;;
	false) ;;
	*)
		echo "::error title=bh-ipc-check::containers must be 'true' or 'false', not '$BH_CONTAINERS'"
		exit 2
		;;
	esac
	case "${BH_ALLOW_INCOMPLETE:-false}" in
	true) args+=(--allow-incomplete) ;;
	false) ;;
	*)
		echo "::error title=bh-ipc-check::allow-incomplete must be 'true' or 'false', not '$BH_ALLOW_INCOMPLETE'"
		exit 2
		;;
	esac
	# BH_FROM_ACTION: the suite's hints and skip reasons name the action's
	# inputs, not the CLI's flags (sudo resets the environment: env passes it).
	export BH_FROM_ACTION=1
	as=()
	privilege "${BH_PRIVILEGED:-auto}"
	case "$how" in
	sudo) as=(sudo -n env BH_FROM_ACTION=1) ;;
	root | none) ;;
	*) exit 2 ;;
	esac
	echo "bh-ipc-check: privileged=${BH_PRIVILEGED:-auto}: running as $how"
	# Reports an earlier run left in report-dir go first: a run that ends
	# before writing its own (a usage error) must not publish them.
	rm -f "$BH_REPORT_DIR/report.json" "$BH_REPORT_DIR/report.md" "$BH_REPORT_DIR/junit.xml" "$BH_REPORT_DIR/report.sarif" 2>/dev/null || true
	set +e
	# ${as[@]+...}: an empty array under set -u in bash 3.2 (macOS runners).
	${as[@]+"${as[@]}"} "$BH_BIN" "${args[@]}"
	code=$?
	set -e
	if [ ${#as[@]} -gt 0 ] && [ -d "$BH_REPORT_DIR" ]; then
		# The reports belong to the runner's user, as without sudo.
		sudo -n chown -R "$(id -u):$(id -g)" "$BH_REPORT_DIR"
	fi
	case "$code" in
	2)
		# A failed preflight still wrote its report (what was waited for,
		# the daemon's output): publish it (the step summary, the outputs
		# with the paths and counts). Without one, finish sets the outputs.
		if [ -f "$BH_REPORT_DIR/report.json" ]; then
			publish || true
		fi
		echo "::error title=bh-ipc-check::the suite could not run or tested nothing (usage, setup or preflight error, exit 2); see the log above and the step summary"
		exit 2
		;;
	130)
		echo "::error title=bh-ipc-check::the run was interrupted (exit 130); the report is partial"
		;;
	esac
	# Outputs, step summary and one ::error per failed required scenario;
	# exits 1 when a required scenario failed (set -e).
	publish
	if [ "$code" -eq 3 ]; then
		echo "::error title=bh-ipc-check::INCOMPLETE: required scenarios reached no verdict (exit 3); run with privileged: 'true' (root or sudo), or set allow-incomplete: 'true' to accept it"
	fi
	exit "$code"
	;;
*)
	echo "usage: action.sh build|run" >&2
	exit 2
	;;
esac
