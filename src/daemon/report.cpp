#include "daemon/report.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string_view>

#include "daemon/dataplane.hpp"

namespace stt::daemon {
namespace {

template <typename E>
nlohmann::json counters_json(const core::CounterSet<E>& c) {
  nlohmann::json j = nlohmann::json::object();
  c.for_each([&](std::string_view name, std::uint64_t v) { j[std::string(name)] = v; });
  return j;
}

}  // namespace

std::string context_id_hex(std::uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(id));
  return buf;
}

nlohmann::json underlay_json(const Dataplane& dp) {
  const DataplaneOptions& o = dp.options();
  return {{"interface", o.underlay},
          {"ifindex", dp.underlay().index},
          {"mac", dp.underlay().mac.to_string()},
          {"mtu", dp.underlay().mtu},
          {"local", o.local.to_string()},
          {"port", o.port},
          {"tx_form", o.tx_form == core::TxForm::kGso ? "gso" : "segmented"}};
}

nlohmann::json peers_json(const Dataplane& dp) {
  nlohmann::json out = nlohmann::json::array();
  for (const Peer* p : dp.peers().sorted()) {
    nlohmann::json nets = nlohmann::json::array();
    for (const auto& n : dp.networks()) {
      if (n->fdb.has_peer(p->addr)) nets.push_back(n->cfg.name);
    }
    nlohmann::json sources = nlohmann::json::array();
    for (std::string_view s : source_names(p->sources()))
      sources.push_back(s);
    out.push_back({{"peer", p->addr.to_string()},
                   {"networks", nets},
                   {"sources", sources},
                   {"resolved", p->resolved},
                   {"status", p->status},
                   {"next_hop", p->next_hop.version() ? p->next_hop.to_string() : ""},
                   {"next_hop_mac", p->resolved ? p->tunnel.config().dst_mac.to_string() : ""},
                   {"neighbour_state", p->neigh_state},
                   {"pending", p->pending.size()}});
  }
  return out;
}

nlohmann::json networks_json(const Dataplane& dp) {
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& n : dp.networks()) {
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& p : n->fdb.peers())
      peers.push_back(p.to_string());
    nets.push_back({{"name", n->cfg.name},
                    {"context_id", n->cfg.context_id},
                    {"context_id_hex", context_id_hex(n->cfg.context_id)},
                    {"tap", n->tap.name()},
                    {"mtu", n->tap.mtu()},
                    {"peers", peers},
                    {"fdb_learned", n->fdb.learned_count()},
                    {"fdb_static", n->fdb.static_count()}});
  }
  return nets;
}

nlohmann::json stats_json(const Dataplane& dp) {
  core::CounterSet<core::EncapCounter> encap;
  core::CounterSet<core::DecapCounter> decap;
  core::CounterSet<FdbCounter> fdb;
  nlohmann::json nets = nlohmann::json::object();
  for (const auto& n : dp.networks()) {
    encap.add(n->encap);
    decap.add(n->decap);
    fdb.add(n->fdb.counters());
    nets[n->cfg.name] = {{"context_id", n->cfg.context_id},
                         {"datapath", counters_json(n->counters)},
                         {"encap", counters_json(n->encap)},
                         {"decap", counters_json(n->decap)},
                         {"fdb", counters_json(n->fdb.counters())}};
  }
  nlohmann::json global = {{"datapath", counters_json(dp.counters())},
                           {"rx", counters_json(dp.rx_counters())},
                           {"reassembly", counters_json(dp.reassembler().counters())},
                           {"encap", counters_json(encap)},
                           {"decap", counters_json(decap)},
                           {"fdb", counters_json(fdb)}};
  return {{"global", global}, {"networks", nets}};
}

nlohmann::json reassembly_json(const Dataplane& dp) {
  const core::ReassemblyStats s = dp.reassembler().stats();
  const core::ReassemblyConfig& c = dp.reassembler().config();
  return {{"frames_in_flight", s.frames_in_flight},
          {"bytes_in_use", s.bytes_in_use},
          {"bytes_held", s.bytes_held},
          {"limits",
           {{"mem_high", c.mem_high},
            {"mem_low", c.mem_low},
            {"max_frames", c.max_frames},
            {"max_frames_per_source", c.max_frames_per_source},
            {"timeout_ms", c.timeout_ns / 1'000'000}}},
          {"counters", counters_json(dp.reassembler().counters())}};
}

nlohmann::json fdb_json(const Dataplane& dp, const Network* only, std::uint64_t now_ns) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& n : dp.networks()) {
    if (only == nullptr || only == n.get()) n->fdb.append_json(out, n->cfg.name, now_ns);
  }
  return out;
}

}  // namespace stt::daemon
