# shellcheck shell=bash
# Shared by the entry points in scripts/: where the harness is, how its binary is
# built, and how flags are handed to it. Sourced, never run.

UH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
UH_BIN="$UH_ROOT/bin/upgrade-harness"
declare -A UH_VALUE
UH_SCRIPT=$(basename "$0" .sh)

uh_log() { printf '[%s] %s\n' "$UH_SCRIPT" "$*" >&2; }

# uh_die MESSAGE: bad input, exit code 2 like every harness command.
uh_die() {
	uh_log "$*"
	exit 2
}

# uh_build: the harness binary from this checkout (the Go build cache makes a
# rebuild take a second).
uh_build() {
	(cd "$UH_ROOT" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -o bin/ ./harness/cmd/...)
}

uh_abs() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$PWD/$1" ;;
	esac
}

# Boolean flags of the harness commands: they take no separate value. Both
# lists are the harness's flag model (harness/cmd/upgrade-harness): its unit
# test TestScriptsKnowTheModelsBooleanAndPathFlags fails when they drift.
UH_BOOL_FLAGS=" diagnose dry-run existing force latest probe sweep trust-bad trust-good "
# Flags whose value is a path (a catalog only when it is a file); load-images
# is gate.sh's own.
UH_PATH_FLAGS=" artifacts builds candidate-manifests catalog catalog-dir ids kubeconfig manifests-dir load-images "

# uh_parse_flags ARGS...: Go-style flags (-name value, -name=value, --name …)
# into UH_FLAGS as -name=value, with path values made absolute against the
# caller's directory, because the harness runs from its own root. UH_VALUE maps
# each flag name given to its value (a flag given twice reaches the harness,
# which refuses it).
uh_parse_flags() {
	UH_FLAGS=()
	UH_VALUE=()
	while (($#)); do
		local arg=$1 name value
		shift
		case $arg in
		--)
			UH_FLAGS+=("$@")
			break
			;;
		-*) ;;
		*)
			UH_FLAGS+=("$arg")
			continue
			;;
		esac
		name=${arg#-}
		name=${name#-}
		if [[ $name == *=* ]]; then
			value=${name#*=}
			name=${name%%=*}
		elif [[ $UH_BOOL_FLAGS == *" $name "* ]]; then
			value=true
		else
			(($#)) || uh_die "flag -$name needs a value"
			value=$1
			shift
		fi
		# A catalog name stays a name; a catalog file is a path.
		if [[ -n $value && $UH_PATH_FLAGS == *" $name "* && ($name != catalog || $value == */* || $value == *.yaml) ]]; then
			value=$(uh_abs "$value")
		fi
		UH_VALUE[$name]=$value
		UH_FLAGS+=("-$name=$value")
	done
}

# uh_flag NAME: the value given to -NAME ("" when not given).
uh_flag() { printf '%s' "${UH_VALUE[$1]:-}"; }

# uh_without NAME...: UH_FLAGS without the named flags (script-only flags the
# harness does not know).
uh_without() {
	local f keep=()
	for f in "${UH_FLAGS[@]}"; do
		local n=${f#-}
		n=${n%%=*}
		[[ " $* " == *" $n "* ]] || keep+=("$f")
	done
	UH_FLAGS=("${keep[@]}")
}

# uh_default NAME VALUE: put -NAME=VALUE before UH_FLAGS unless -NAME was given
# (the harness refuses a flag given twice).
uh_default() {
	[[ -n ${UH_VALUE[$1]+set} ]] && return 0
	UH_VALUE[$1]=$2
	UH_FLAGS=("-$1=$2" "${UH_FLAGS[@]}")
}

# uh_help_on ARG SCRIPT: with -h, -help or --help, prints SCRIPT's header
# comment (line 2 up to `set -euo`) and exits 0.
uh_help_on() {
	case $1 in
	-h | -help | --help)
		sed -n '2,/^set -euo/p' "$2" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	esac
}
