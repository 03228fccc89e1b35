#include "linux/privileges.hpp"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <cerrno>
#include <memory>
#include <system_error>
#include <type_traits>

namespace stt::sys {
namespace {

struct CapFree {
  void operator()(std::remove_pointer_t<cap_t>* c) const noexcept { cap_free(c); }
};

}  // namespace

std::string keep_only_net_capabilities() {
  const cap_value_t keep[] = {CAP_NET_ADMIN, CAP_NET_RAW};
  std::string note;

  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes
  // with the rest below.
  const cap_value_t last = static_cast<cap_value_t>(cap_max_bits()) - 1;
  for (cap_value_t c = 0; c <= last; ++c) {
    if (c == CAP_NET_ADMIN || c == CAP_NET_RAW) continue;
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
      note = "capability bounding set not reduced (no CAP_SETPCAP)";
      break;
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
    throw std::system_error(errno, std::generic_category(), "clear the ambient capabilities");
  }

  const std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree> caps(cap_init());  // all clear
  if (!caps) throw std::system_error(errno, std::generic_category(), "cap_init");
  const int n = static_cast<int>(sizeof keep / sizeof keep[0]);
  if (cap_set_flag(caps.get(), CAP_PERMITTED, n, keep, CAP_SET) < 0 ||
      cap_set_flag(caps.get(), CAP_EFFECTIVE, n, keep, CAP_SET) < 0 ||
      cap_set_proc(caps.get()) < 0) {
    const int err = errno;
    throw std::system_error(err, std::generic_category(),
                            "keep only CAP_NET_ADMIN and CAP_NET_RAW (cap_set_proc)");
  }
  return note;
}

}  // namespace stt::sys
