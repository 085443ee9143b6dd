# The top-level Dockerfile cannot be built here (no Docker engine), so it is kept honest against what is: its
# build stage installs exactly the Makefile's -dev packages, and its runtime stage's packages (with what apt pulls
# in for them) own every shared library the built binary loads.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
# The package names of the apt-get install in stage N (1 = build, 2 = runtime).
stage_packages() {
  awk -v want="$1" '/^FROM /{stage++} stage == want' Dockerfile | tr -d '\\' | tr ' ' '\n' \
    | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vxE 'RUN|apt-get|update|install|rm|rf|useradd|uid|create-home|shell' | sort -u
}
make_packages() { sed -n '/^DEB_PACKAGES/,/^$/p' Makefile | tr -d '\\' | tr ' ' '\n' | grep -E -- '-dev$' | sort -u; }

build=$(stage_packages 1 | grep -E -- '-dev$' || true)
[ -n "$build" ] || fail "found no -dev packages in the Dockerfile's build stage"
diff <(echo "$build") <(make_packages) >"$T/diff" || fail "Dockerfile build stage and Makefile DEB_PACKAGES differ in -dev packages:
$(cat "$T/diff")"

runtime=$(stage_packages 2 | grep -E '^lib|^zlib|^ca-certificates$')
[ -n "$runtime" ] || fail "found no packages in the Dockerfile's runtime stage"
# Everything apt installs for them, plus what debian:12-slim has already (apt and its dependencies).
# shellcheck disable=SC2086
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
  apt $runtime 2>/dev/null | grep -E '^[a-z0-9]' | sed 's/:amd64$//' | sort -u >"$T/closure"
missing=""
# A sanitizer build (DLCTL_SANITIZED) links the sanitizers' runtimes, which no image carries.
for lib in $(ldd "$DLCTL" | awk '$3 ~ /^\// {print $3}' | grep -vE '/lib(asan|ubsan|lsan)\.so'); do
  real=$(readlink -f "$lib")
  owner=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null || true)
  pkg=${owner%%:*}
  [ -n "$pkg" ] || fail "no Debian package owns $real"
  grep -qx "$pkg" "$T/closure" || missing="$missing $pkg($lib)"
done
[ -z "$missing" ] || fail "the Dockerfile's runtime stage lacks the packages of:$missing"
echo "Dockerfile matches the Makefile's -dev packages ($(echo "$build" | wc -l)) and covers $(ldd "$DLCTL" | grep -c '=> /') libraries"

# The build context leaves the host's build folders out (a host build/CMakeCache.txt makes the image's cmake
# refuse to configure), and the documented `docker run` runs as the caller, who owns the checkout it writes to.
[ -f .dockerignore ] || fail "no .dockerignore: docker build . would send build/ and fail in CMake"
for path in build/CMakeCache.txt build-gpu/CMakeCache.txt gpu-bundle/dlctl runs/housing/1/meta.json; do
  python3 - "$path" <<'PY' || fail ".dockerignore does not exclude $path"
import fnmatch, sys
path = sys.argv[1]
patterns = [l.strip().rstrip("/") for l in open(".dockerignore") if l.strip() and not l.startswith("#")]
prefixes = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 2)]
sys.exit(0 if any(fnmatch.fnmatch(p, pat) for p in prefixes for pat in patterns) else 1)
PY
done
grep -q 'docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work"' README.md ||
  fail "README's docker run does not pass --user: uid 65532 cannot write a checkout it does not own"
