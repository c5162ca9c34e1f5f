#!/usr/bin/env bash
# The optional Pipelock backend's image, for the tests: built from the Pipelock
# binary in ../shared/pipelock (beside the checkout on this project's machines
# and in CI; see its README), wrapped as the upstream image wraps it (FROM
# scratch, the host's CA bundle, the binary), and tagged with the name the
# product pulls by default, so the suites run the code path users run.
#
#   bash scripts/setup/pipelock-image.sh [DIR]    # DIR default: ../shared/pipelock
#
# Prints the image's name on stdout. Where DIR is absent, says so in one line on
# stderr, prints nothing and exits 0 (the caller decides). A binary whose sha256
# is not the one beside it is an error. Nothing is pulled (no registry needed),
# and nothing from DIR enters the repository. Idempotent: an image whose label
# records the same binary, CA bundle and Dockerfile is kept as it is (seconds).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
src=${1:-$(dirname "$repo")/shared/pipelock}
ca=/etc/ssl/certs/ca-certificates.crt
label=dev.claude-bottle-test.pipelock-build

image=$(cd "$repo/src" && python3 -c \
  'from claude_bottle.proxies.pipelock_image import DEFAULT_PIPELOCK_IMAGE as i; print(i)')

if [ ! -f "$src/pipelock" ] || [ ! -f "$src/pipelock.sha256" ]; then
  echo "note: no Pipelock build at $src (see scripts/setup/pipelock-image.sh); its image $image is not built" >&2
  exit 0
fi
[ -f "$ca" ] || { echo "pipelock-image: no CA bundle at $ca" >&2; exit 1; }

want=$(awk '{print $1; exit}' "$src/pipelock.sha256")
have=$(sha256sum "$src/pipelock" | awk '{print $1}')
if [ "$have" != "$want" ]; then
  echo "pipelock-image: $src/pipelock has sha256 $have, not the $want in pipelock.sha256" >&2
  exit 1
fi

# The upstream image's last stage (see ../shared/pipelock/README.md).
dockerfile='FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/
COPY pipelock /pipelock
EXPOSE 8888
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/pipelock", "healthcheck"]
ENTRYPOINT ["/pipelock"]
CMD ["run", "--listen", "0.0.0.0:8888"]'

build_id=$( { echo "$have"; sha256sum <"$ca"; printf '%s' "$dockerfile"; } | sha256sum | cut -c1-16)
current=$(docker image inspect --format "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null || true)
if [ "$current" = "$build_id" ]; then
  echo "$image"
  exit 0
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$src/pipelock" "$context/pipelock"
cp "$ca" "$context/ca-certificates.crt"
printf '%s\n' "$dockerfile" >"$context/Dockerfile"
# The copy is what goes in: check it too, not only the file it came from.
[ "$(sha256sum "$context/pipelock" | awk '{print $1}')" = "$want" ] || {
  echo "pipelock-image: the copy of $src/pipelock changed while it was read" >&2
  exit 1
}
echo "pipelock-image: building $image from $src (sha256 $want)" >&2
# Quiet unless it fails (the legacy builder's deprecation notice is noise here).
if ! out=$(docker build -q --label "$label=$build_id" -t "$image" "$context" 2>&1); then
  printf '%s\n' "$out" >&2
  exit 1
fi
echo "$image"
