#pragma once
// The switch of sttd: the networks by name and by context ID, admission of
// received frames, and the flood copies of transmitted ones. Each
// network's FDB (daemon/fdb.hpp) picks a frame's targets; this decides
// who may send into a network and gives every target its own frame.
//
// Admission, in the order the receive path asks:
//   1. before reassembly: is the outer source a peer of any network? A
//      source that is not gets no reassembly memory.
//   2. after reassembly: does a network have the STT header's context ID,
//      and is the source a peer of THAT network?

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/buffer.hpp"
#include "daemon/config.hpp"
#include "daemon/fdb.hpp"
#include "daemon/peer_table.hpp"
#include "wire/addr.hpp"

namespace stt::daemon {

struct Network;  // daemon/dataplane.hpp

enum class Admission : std::uint8_t {
  kAdmitted,
  kUnknownContext,  // no network has the context ID
  kNotPeer,         // the network exists, the source is not one of its peers
};

class Switch {
 public:
  explicit Switch(const PeerTable& peers);
  ~Switch();
  Switch(const Switch&) = delete;
  Switch& operator=(const Switch&) = delete;

  // Throws std::runtime_error when a network has cfg's context ID already.
  void require_free(const NetworkConfig& cfg) const;
  // Registers n (require_free first).
  Network& add(std::unique_ptr<Network> n);
  // Unregisters and destroys n (its peers must be released first).
  void remove(Network& n);
  Network* find(std::string_view name) const;
  Network* by_context(std::uint64_t context_id) const {
    auto it = by_context_.find(context_id);
    return it == by_context_.end() ? nullptr : it->second.net;
  }
  const std::vector<std::unique_ptr<Network>>& networks() const { return networks_; }

  // Admission 1: the outer source is a peer of some network.
  bool is_peer_of_any(const wire::IpAddr& src) const { return peers_.contains(src); }
  // Admission 2: *net is set when the context ID is known (also for kNotPeer).
  // Inline, with the network's FDB beside it in the map, because it runs for
  // every received frame.
  Admission admit(std::uint64_t context_id, const wire::IpAddr& src, Network** net) const {
    auto it = by_context_.find(context_id);
    if (it == by_context_.end()) {
      *net = nullptr;
      return Admission::kUnknownContext;
    }
    *net = it->second.net;
    return it->second.fdb->has_peer(src) ? Admission::kAdmitted : Admission::kNotPeer;
  }

 private:
  const PeerTable& peers_;
  std::vector<std::unique_ptr<Network>> networks_;
  struct ByContext {
    Network* net;
    const Fdb* fdb;  // &net->fdb: admit() needs no Network definition
  };
  std::unordered_map<std::uint64_t, ByContext> by_context_;
};

// Gives each of `targets` the frame: every target but the last gets a copy
// made in `copy` (reused, so emit must be done with it before returning),
// the last gets `frame` itself. Encapsulation changes the frame in place
// (tag moved out, headers written in front), so no two targets may share
// it, and the copies are taken before the original is touched.
// emit(const wire::IpAddr& target, core::PacketBuffer& frame_for_it).
template <typename Emit>
void flood(std::span<const wire::IpAddr> targets, core::PacketBuffer& frame,
           core::PacketBuffer& copy, Emit&& emit) {
  // One call of emit, so that the compiler inlines it: this runs for every
  // transmitted frame, nearly always with one target.
  for (std::size_t i = 0; i < targets.size(); ++i) {
    core::PacketBuffer* f = &frame;
    if (i + 1 != targets.size()) {
      copy.reset();
      std::memcpy(copy.data(), frame.data(), frame.size());
      copy.set_size(frame.size());
      f = &copy;
    }
    emit(targets[i], *f);
  }
}

}  // namespace stt::daemon
