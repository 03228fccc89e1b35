#include "daemon/switch.hpp"

#include <algorithm>
#include <stdexcept>

#include "daemon/dataplane.hpp"

namespace stt::daemon {

Switch::Switch(const PeerTable& peers) : peers_(peers) {}

Switch::~Switch() = default;

void Switch::require_free(const NetworkConfig& cfg) const {
  if (by_context_.count(cfg.context_id)) {
    throw std::runtime_error("network " + cfg.name + ": context ID already in use");
  }
}

Network& Switch::add(std::unique_ptr<Network> n) {
  require_free(n->cfg);
  Network& net = *n;
  networks_.push_back(std::move(n));
  by_context_[net.cfg.context_id] = {&net, &net.fdb};
  return net;
}

void Switch::remove(Network& n) {
  by_context_.erase(n.cfg.context_id);
  networks_.erase(std::remove_if(networks_.begin(), networks_.end(),
                                 [&](const std::unique_ptr<Network>& x) { return x.get() == &n; }),
                  networks_.end());
}

Network* Switch::find(std::string_view name) const {
  for (const auto& n : networks_) {
    if (n->cfg.name == name) return n.get();
  }
  return nullptr;
}

}  // namespace stt::daemon
