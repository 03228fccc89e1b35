// ethtool_probe IFNAME FEATURE [on|off]: reads (and with on/off, first sets)
// a netdev feature through sttd's ethtool adapter (src/linux/ethtool.hpp)
// and prints "FEATURE on|off fixed|changeable". For test_lro.py, which
// compares it with ethtool(8) on a feature veth lets us switch.

#include <cstdio>
#include <exception>
#include <string>

#include "linux/ethtool.hpp"

int main(int argc, char** argv) {
  if (argc != 3 &&
      !(argc == 4 && (std::string(argv[3]) == "on" || std::string(argv[3]) == "off"))) {
    std::fprintf(stderr, "usage: ethtool_probe IFNAME FEATURE [on|off]\n");
    return 2;
  }
  try {
    const stt::sys::NetdevFeature f =
        argc == 4 ? stt::sys::set_feature(argv[1], argv[2], std::string(argv[3]) == "on")
                  : stt::sys::read_feature(argv[1], argv[2]);
    std::printf("%s %s %s\n", argv[2], f.active ? "on" : "off",
                f.changeable ? "changeable" : "fixed");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ethtool_probe: %s\n", e.what());
    return 1;
  }
  return 0;
}
