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
	dpkg-dev	# make deb: dpkg-deb, dpkg-shlibdeps
	systemd		# lab_pkg.sh: systemd-analyze verify of the unit
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
	exit 0
fi
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
