#pragma once
// R17 at startup: draft-davie-stt requires LRO to be off on a NIC whose LRO
// can merge segments with different ACK values (packet IDs) while STT is in
// use. sttd cannot ask a driver how its LRO merges, so it treats any LRO as
// such: with `[underlay] lro = "disable"` (the default) it turns LRO off on
// the underlay interface, and refuses to start when it cannot; with
// "ignore" it only reports the state. The kernel's GRO needs no such care
// (docs/conformance.md, "R17 and GRO").
//
// The decision is separate from the ethtool calls, through LroControl, so
// it is unit-tested without sockets.

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "daemon/config.hpp"
#include "linux/ethtool.hpp"

namespace stt::daemon {

// The ethtool operations the check needs (sys::read_lro/disable_lro in sttd).
class LroControl {
 public:
  virtual ~LroControl() = default;
  virtual sys::NetdevFeature read(const std::string& ifname) = 0;     // may throw
  virtual sys::NetdevFeature disable(const std::string& ifname) = 0;  // may throw
};

// What the startup check found and did; shown by `sttctl show` (underlay.lro).
struct LroReport {
  enum class Action {
    kNone,      // LRO was off: nothing to do
    kDisabled,  // LRO was on and sttd turned it off
    kIgnored,   // lro = "ignore": left as found (on, or unreadable)
    kRefused,   // lro = "disable" and LRO is (or may be) on: sttd must not start
  };
  LroSetting setting = LroSetting::kDisable;
  std::optional<sys::NetdevFeature> before;  // unset when it could not be read
  std::optional<sys::NetdevFeature> after;   // after a disable attempt, when read back
  Action action = Action::kNone;
  std::string message;  // one line for the log (and the exception when refused)
};

// Reads `ifname`'s LRO and acts on `setting`. Never throws: errors from
// `ctl` end up in the report's message.
LroReport check_lro(const std::string& ifname, LroSetting setting, LroControl& ctl);

// check_lro() with the real ethtool calls; logs the message (info when LRO
// is off or was turned off, warning otherwise) and throws std::runtime_error
// with it when the action is kRefused.
LroReport enforce_underlay_lro(const std::string& ifname, LroSetting setting);

const char* to_string(LroReport::Action a);
nlohmann::json lro_json(const LroReport& r);

}  // namespace stt::daemon
