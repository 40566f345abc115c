#!/usr/bin/env bash
# Prints the path of the Python that `make` builds .venv with: the image's Python (3.12) when this machine
# has one that runs, otherwise python3 if it is 3.11 or newer, with a line on stderr saying so.
# A pyenv shim named python3.12 can exist and still fail ("pyenv: python3.12: command not found" when
# pyenv's global version is another), so each candidate is run, not just looked up, and pyenv's own
# versions directory is searched too.
set -uo pipefail
WANTED="3.12"

# The real interpreter behind a command (a shim resolves to its target), if it runs and is $1.
runs_as() {
    "$2" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$1'; print(sys.executable)" 2>/dev/null
}

candidates=("python$WANTED")
pyenv_root="${PYENV_ROOT:-${HOME:-}/.pyenv}"
# Newest patch release first.
while IFS= read -r path; do candidates+=("$path"); done < <(
    ls -d "$pyenv_root/versions/$WANTED".*/bin/"python$WANTED" 2>/dev/null | sort -rV
)
candidates+=("/usr/local/bin/python$WANTED" "/usr/bin/python$WANTED")
for candidate in "${candidates[@]}"; do
    if found="$(runs_as "$WANTED" "$candidate")" && [[ -n "$found" ]]; then
        echo "$found"
        exit 0
    fi
done

fallback="$(python3 -c 'import sys; assert sys.version_info >= (3, 11); print(sys.executable)' 2>/dev/null)"
if [[ -z "$fallback" ]]; then
    echo "make: no working Python $WANTED and no python3 of 3.11 or newer; install Python $WANTED" >&2
    exit 1
fi
echo "make: no working Python $WANTED (the image's) found; falling back to $fallback," \
    "Python $("$fallback" -c 'import platform; print(platform.python_version())')" >&2
echo "$fallback"
