#!/usr/bin/env bash
# build-deb.sh: build the Debian package canfs_VERSION_ARCH.deb from a
# built tree, offline, with dpkg-deb (`make deb` runs it).
#
#   scripts/build-deb.sh [OUTDIR]      (default: the build directory)
#
# Installs the tree (make install, PREFIX=/usr) into a staging directory,
# adds the systemd unit, /etc/canfs/canfsd.conf (a conffile) and the
# maintainer scripts from scripts/deb/, computes Depends with
# dpkg-shlibdeps (the libraries the binaries link) plus fuse3 (mount.fuse3,
# which `mount -t fuse.canfs` runs, and fusermount3), and prints the
# package's path.
#
# Environment: BUILD (default build), VERSION (default 0.1.0, with
# +gitN.HASH appended in a git clone: N, the commit count, grows with
# every commit, so apt sees an upgrade), MAINTAINER.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
OUT=${1:-$BUILD}
DEB=$ROOT/scripts/deb
MAINTAINER=${MAINTAINER:-canfs maintainers <canfs@localhost>}
# When dpkg-shlibdeps is missing: what Debian 12's libraries are called.
FALLBACK_DEPENDS="libc6 (>= 2.34), libevent-2.1-7 (>= 2.1.8-stable), libfuse3-3 (>= 3.12.0), liblmdb0 (>= 0.9.7), libsodium23 (>= 1.0.14)"

if [ -z "${VERSION:-}" ]; then
	VERSION=0.1.0
	if git rev-parse --git-dir >/dev/null 2>&1; then
		VERSION=$VERSION+git$(git rev-list --count HEAD).$(git rev-parse --short HEAD)
	fi
fi
ARCH=$(dpkg --print-architecture)
for b in canfsd canctl canfs canfs-fsck; do
	[ -x "$BUILD/$b" ] || { echo "build-deb: $BUILD/$b is not built (make all)" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/canfs-deb.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# The package's directory, where dpkg-shlibdeps expects the binaries.
S=$TMP/debian/canfs
mkdir -p "$S/DEBIAN"

# The binaries and man pages, as `make install` lays them out.
make -s install BUILD="$BUILD" PREFIX=/usr DESTDIR="$S" >/dev/null
for b in "$S"/usr/sbin/canfsd "$S"/usr/sbin/canfs "$S"/usr/bin/canctl \
	"$S"/usr/bin/canfs-fsck; do
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$b"
done
gzip -9n "$S"/usr/share/man/man8/*.8

install -D -m 644 "$DEB/canfsd.service" "$S/lib/systemd/system/canfsd.service"
install -D -m 644 "$DEB/canfsd.conf" "$S/etc/canfs/canfsd.conf"
install -D -m 644 "$DEB/canfs-sweep.service" "$S/lib/systemd/system/canfs-sweep.service"
install -D -m 644 "$DEB/canfs-sweep.timer" "$S/lib/systemd/system/canfs-sweep.timer"
install -D -m 644 "$DEB/canfs-sweep.default" "$S/etc/default/canfs-sweep"
install -D -m 644 LICENSE "$S/usr/share/doc/canfs/copyright"
gzip -9n -c README.md >"$S/usr/share/doc/canfs/README.md.gz"
chmod 644 "$S/usr/share/doc/canfs/README.md.gz"
install -m 755 "$DEB/postinst" "$DEB/prerm" "$DEB/postrm" "$S/DEBIAN/"
printf '%s\n' /etc/canfs/canfsd.conf /etc/default/canfs-sweep >"$S/DEBIAN/conffiles"

# Depends: what the binaries link, then fuse3 for the mount helper.
if command -v dpkg-shlibdeps >/dev/null; then
	printf 'Source: canfs\n\nPackage: canfs\nArchitecture: any\n' >"$TMP/debian/control"
	depends=$(cd "$TMP" && dpkg-shlibdeps -O debian/canfs/usr/sbin/canfsd \
		debian/canfs/usr/sbin/canfs debian/canfs/usr/bin/canctl \
		debian/canfs/usr/bin/canfs-fsck |
		sed -n 's/^shlibs:Depends=//p')
	rm -f "$TMP/debian/control"
else
	depends=$FALLBACK_DEPENDS
fi
[ -n "$depends" ] || { echo "build-deb: no dependencies found" >&2; exit 1; }
depends="$depends, fuse3"

size=$(du -sk --exclude=DEBIAN "$S" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" \
	-e "s/@MAINTAINER@/$MAINTAINER/" -e "s/@SIZE@/$size/" \
	-e "s/@DEPENDS@/$depends/" "$DEB/control.in" >"$S/DEBIAN/control"

mkdir -p "$OUT"
pkg=$OUT/canfs_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$S" "$pkg" >/dev/null
echo "$pkg"
