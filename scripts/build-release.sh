#!/usr/bin/env bash
# Builds the node executable (src/Nodes, Release, framework-dependent) of an earlier commit into OUTDIR, for a rolling
# upgrade from that release (./edgeactors rolling --from-build OUTDIR):
#   scripts/build-release.sh 03a68e6 /tmp/edgeactors-release-03a68e6
# The commit's tree is exported with git archive into a scratch folder (the checkout is not touched); OUTDIR/edgeactors
# is the node apphost. A finished build leaves OUTDIR/.release-commit holding the full commit id; a second call for the
# same commit and OUTDIR reuses it.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 <commit> <outdir>" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
commit="$1"; out="$2"
full=$(git -C "$root" rev-parse --verify --quiet "$commit^{commit}") || {
  echo "build-release: commit $commit is not in this clone ($root); fetch the full history (git fetch --unshallow)" >&2; exit 3; }
if [ -x "$out/edgeactors" ] && [ "$(cat "$out/.release-commit" 2>/dev/null)" = "$full" ]; then
  echo "build-release: $out already holds $full" >&2; exit 0
fi
src=$(mktemp -d "${TMPDIR:-/tmp}/edgeactors-release-src.XXXXXX")
trap 'rm -rf "$src"' EXIT
git -C "$root" archive "$full" | tar -x -C "$src"
rm -rf "$out"; mkdir -p "$out"
echo "build-release: building src/Nodes of $full into $out ..." >&2
# its own intermediate folders (obj/bin under the scratch tree): nothing is shared with this checkout's build
dotnet build "$src/src/Nodes/EdgeActors.Nodes.csproj" -c Release -o "$out" --nologo -v quiet -clp:ErrorsOnly \
  -p:TreatWarningsAsErrors=false >&2
[ -x "$out/edgeactors" ] || { echo "build-release: $out/edgeactors was not produced" >&2; exit 1; }
echo "$full" > "$out/.release-commit"
echo "build-release: done ($out/edgeactors)" >&2
