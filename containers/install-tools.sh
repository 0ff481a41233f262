#!/bin/sh
# Install what agents' commands need, unless the base image has it already (the base that
# `hotmess containers build` debootstraps where no registry answers includes everything,
# so there this script installs nothing and needs no network). Fails the build, not the
# first episode, when a tool is still missing.
set -eu

have() { command -v "$1" >/dev/null 2>&1; }

missing=""
have python3 || missing="$missing python3"
have git || missing="$missing git"
have sqlite3 || missing="$missing sqlite3"
{ have ps && have pkill; } || missing="$missing procps"
have bash || missing="$missing bash"

# pytest must be importable by the python3 on PATH: Debian's python3-pytest serves
# /usr/bin/python3; a base with its own Python (python:3.11-slim-bookworm) gets it from pip.
pytest_from_pip=no
if ! python3 -c 'import pytest' 2>/dev/null; then
    if [ "$(command -v python3 || echo /usr/bin/python3)" = /usr/bin/python3 ]; then
        missing="$missing python3-pytest"
    else
        pytest_from_pip=yes
    fi
fi

if [ -n "$missing" ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    apt-get clean
    rm -rf /var/lib/apt/lists/*
fi
if [ "$pytest_from_pip" = yes ]; then
    python3 -m pip install --no-cache-dir pytest
fi

for tool in bash python3 git sqlite3 ps pkill sleep; do
    have "$tool" || { echo "install-tools.sh: $tool is still missing" >&2; exit 1; }
done
python3 -c 'import pytest'
