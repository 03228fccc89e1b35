#include "daemon/lro.hpp"

#include <spdlog/spdlog.h>
#include <exception>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace stt::daemon {
namespace {

std::string state_text(const sys::NetdevFeature& f) {
  return std::string(f.active ? "on" : "off") + (f.changeable ? "" : " [fixed]");
}

const char* setting_text(LroSetting s) {
  return s == LroSetting::kDisable ? "disable" : "ignore";
}

class EthtoolLro : public LroControl {
 public:
  sys::NetdevFeature read(const std::string& ifname) override { return sys::read_lro(ifname); }
  sys::NetdevFeature disable(const std::string& ifname) override {
    return sys::disable_lro(ifname);
  }
};

}  // namespace

LroReport check_lro(const std::string& ifname, LroSetting setting, LroControl& ctl) {
  LroReport r;
  r.setting = setting;
  const std::string who = "underlay " + ifname + ": large-receive-offload";
  const std::string how =
      "; STT requires LRO off on the underlay (draft-davie-stt R17: LRO may merge segments "
      "of different STT frames). Turn it off (ethtool -K " +
      ifname + " lro off) or set [underlay] lro = \"ignore\"";
  try {
    r.before = ctl.read(ifname);
  } catch (const std::exception& e) {
    if (setting == LroSetting::kIgnore) {
      r.action = LroReport::Action::kIgnored;
      r.message = who + " state unknown (" + e.what() + "); lro = \"ignore\", continuing";
    } else {
      r.action = LroReport::Action::kRefused;
      r.message = who + " state could not be read (" + e.what() + ")" + how;
    }
    return r;
  }
  if (!r.before->active) {
    r.action = LroReport::Action::kNone;
    r.message = who + " is " + state_text(*r.before);
    return r;
  }
  if (setting == LroSetting::kIgnore) {
    r.action = LroReport::Action::kIgnored;
    r.message = who + " is " + state_text(*r.before) +
                " and lro = \"ignore\": left on, although LRO may merge segments of "
                "different STT frames (draft-davie-stt R17)";
    return r;
  }
  if (!r.before->changeable) {
    r.action = LroReport::Action::kRefused;
    r.message = who + " is on and fixed by the driver" + how;
    return r;
  }
  try {
    r.after = ctl.disable(ifname);
  } catch (const std::exception& e) {
    r.action = LroReport::Action::kRefused;
    r.message = who + " is on and could not be turned off (" + e.what() + ")" + how;
    return r;
  }
  if (r.after->active) {
    r.action = LroReport::Action::kRefused;
    r.message = who + " is on and stayed on after sttd asked the kernel to turn it off" + how;
    return r;
  }
  r.action = LroReport::Action::kDisabled;
  r.message = who +
              " was on; turned it off (draft-davie-stt R17). It stays off when sttd "
              "exits";
  return r;
}

LroReport enforce_underlay_lro(const std::string& ifname, LroSetting setting) {
  EthtoolLro ctl;
  LroReport r = check_lro(ifname, setting, ctl);
  switch (r.action) {
    case LroReport::Action::kNone:
    case LroReport::Action::kDisabled:
      spdlog::info("{}", r.message);
      break;
    case LroReport::Action::kIgnored:
      spdlog::warn("{}", r.message);
      break;
    case LroReport::Action::kRefused:
      throw std::runtime_error(r.message);
  }
  return r;
}

const char* to_string(LroReport::Action a) {
  switch (a) {
    case LroReport::Action::kNone:
      return "none";
    case LroReport::Action::kDisabled:
      return "disabled";
    case LroReport::Action::kIgnored:
      return "ignored";
    case LroReport::Action::kRefused:
      break;
  }
  return "refused";
}

nlohmann::json lro_json(const LroReport& r) {
  // "state" is what runs now: after a successful disable, off.
  const std::optional<sys::NetdevFeature>& now = r.after ? r.after : r.before;
  return {{"setting", setting_text(r.setting)},
          {"state", now ? (now->active ? "on" : "off") : "unknown"},
          {"fixed", now ? nlohmann::json(!now->changeable) : nlohmann::json(nullptr)},
          {"action", to_string(r.action)}};
}

}  // namespace stt::daemon
