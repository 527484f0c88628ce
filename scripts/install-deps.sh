#!/usr/bin/env bash
# Install every build and test dependency of canfs on Debian 12 (idempotent).
# Runs apt-get only when something is missing.
set -euo pipefail

PKGS=(
	build-essential pkg-config
	libevent-dev libfuse3-dev fuse3 libxxhash-dev liblmdb-dev libsodium-dev
	libcmocka-dev
	clang libclang-rt-14-dev
	python3 iproute2 nftables procps psmisc util-linux fio jq
	bindfs		# make bench-fs: a second FUSE file system to compare
	dpkg-dev	# make deb: dpkg-deb, dpkg-shlibdeps
	python3-prometheus-client	# metrics.sh: the reference exposition parser
)
# Wanted, not required: lab_pkg.sh checks the unit with systemd-analyze
# when it can, and says so when it cannot.
OPTIONAL=(systemd)

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
missing=() optional=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done
for p in "${OPTIONAL[@]}"; do
	installed "$p" || optional+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
	exit 0
fi
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends "${missing[@]}"
fi
for p in "${optional[@]}"; do
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends "$p" ||
		echo "install-deps: could not install $p (optional)"
done
