#!/usr/bin/env bash
# Installs every Debian 12 package this project needs to build, test and run.
# Idempotent: packages already present are left alone, and apt is only asked
# when something is missing. Must run as root.
set -euo pipefail

packages=(
  # toolchain
  build-essential g++ cmake ninja-build pkg-config clang libclang-rt-14-dev clang-format
  # the linker of scripts/test.sh's builds (faster than ld.bfd on the many test executables)
  lld
  # tests/cluster: a secured etcd's CA and certificates
  openssl
  # libraries
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libmnl-dev libpcap-dev liburing-dev libcap-dev
  libsystemd-dev prometheus-cpp-dev
  # the kernel fast path: clang -target bpf (above), libbpf, bpftool (vmlinux.h, skeletons)
  libbpf-dev bpftool
  # the etcd directory (src/cluster): gRPC, protobuf, and etcd 3.4's API definitions
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  golang-etcd-server-dev golang-github-gogo-protobuf-dev
  # test and runtime tools
  tshark iproute2 iputils-ping ethtool nftables iperf3 procps psmisc python3 python3-matplotlib
  prometheus etcd-server etcd-client openssl
  # packaging: the .deb (CPack runs dpkg-deb, dpkg-shlibdeps), its checks, man pages, units,
  # and the unit's sandbox traced (tests/package/test_unit_sandbox.py)
  dpkg-dev fakeroot lintian groff man-db systemd bash-completion strace
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
