#include "wire/addr.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

#include "wire/hash.hpp"

namespace stt::wire {

std::string MacAddr::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return buf;
}

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddr m;
  for (int i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':' && text[i * 3 - 1] != '-') return std::nullopt;
    unsigned v = 0;
    for (int j = 0; j < 2; ++j) {
      char c = text[i * 3 + j];
      unsigned d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        return std::nullopt;
      v = v * 16 + d;
    }
    m.b[i] = static_cast<std::uint8_t>(v);
  }
  return m;
}

bool IpAddr::is_multicast() const {
  if (version_ == 4) return (b_[0] & 0xf0) == 0xe0;
  if (version_ == 6) return b_[0] == 0xff;
  return false;
}

std::string IpAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (version_ == 4) return inet_ntop(AF_INET, b_.data(), buf, sizeof buf);
  if (version_ == 6) return inet_ntop(AF_INET6, b_.data(), buf, sizeof buf);
  return "unset";
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  std::string s(text);
  IpAddr a;
  if (inet_pton(AF_INET, s.c_str(), a.b_.data()) == 1) {
    a.version_ = 4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.b_.data()) == 1) {
    a.version_ = 6;
    return a;
  }
  return std::nullopt;
}

}  // namespace stt::wire
