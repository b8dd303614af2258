#!/bin/sh
# A minimal Debian base with Python, built here from Debian's packages (the container test's
# stand-in for a registry's python image): debootstrap's minbase, python3 and its venv module,
# apt's lists and caches removed. Writes the root file system as a tar to $1.
# The test caches the imported image under a tag keyed by a hash of this file: edit it and the
# next run builds a new base.
set -eu
out=$1
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d "${TMPDIR:-/tmp}/abgate-base.XXXXXX")
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$root" "$mirror" >&2
# The images built on this base install Debian packages (redis-server, prometheus) with apt.
echo "deb $mirror $suite main" > "$root/etc/apt/sources.list"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" --numeric-owner -cf "$out" .
