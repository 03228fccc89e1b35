#include "daemon/reload.hpp"

#include <algorithm>

namespace stt::daemon {
namespace {

std::string dscp_text(const Config& c) {
  return c.dscp_mode == DscpSetting::kInherit ? "\"inherit\"" : std::to_string(c.dscp);
}

std::string ecn_text(EcnSetting e) {
  switch (e) {
    case EcnSetting::kNormal:
      return "\"normal\"";
    case EcnSetting::kCompat:
      return "\"compat\"";
    case EcnSetting::kOff:
      break;
  }
  return "\"off\"";
}

bool same_entry(const StaticFdbEntry& x, const StaticFdbEntry& y) {
  return x.mac == y.mac && x.peer == y.peer;
}

template <typename T, typename Eq>
bool contains(const std::vector<T>& v, const T& x, Eq eq) {
  return std::any_of(v.begin(), v.end(), [&](const T& y) { return eq(x, y); });
}

const NetworkConfig* find(const Config& c, const std::string& name) {
  for (const auto& n : c.networks) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

// The changes to a network that stays, in the order they are applied.
void plan_network(const NetworkConfig& old, const NetworkConfig& nc, ReloadPlan& plan) {
  const std::size_t before = plan.actions.size();
  auto action = [&](ReloadAction::Kind k) -> ReloadAction& {
    plan.actions.push_back(ReloadAction{k, nc.name});
    return plan.actions.back();
  };
  if (nc.mtu != old.mtu) {
    ReloadAction& a = action(ReloadAction::Kind::kSetMtu);
    a.old_mtu = old.mtu;
    a.mtu = nc.mtu;
  }
  for (const auto& e : old.fdb) {
    if (!contains(nc.fdb, e, same_entry)) action(ReloadAction::Kind::kRemoveStaticFdb).entry = e;
  }
  auto eq_ip = [](const wire::IpAddr& x, const wire::IpAddr& y) { return x == y; };
  for (const auto& p : old.peers) {
    if (!contains(nc.peers, p, eq_ip)) action(ReloadAction::Kind::kRemovePeer).peer = p;
  }
  for (const auto& p : nc.peers) {
    if (!contains(old.peers, p, eq_ip)) action(ReloadAction::Kind::kAddPeer).peer = p;
  }
  for (const auto& e : nc.fdb) {
    if (!contains(old.fdb, e, same_entry)) action(ReloadAction::Kind::kAddStaticFdb).entry = e;
  }
  if (plan.actions.size() == before) plan.unchanged.push_back(nc.name);
}

}  // namespace

std::optional<std::string> needs_restart(const Config& a, const Config& b) {
  auto changed = [](std::string key, const std::string& x, const std::string& y) {
    return std::optional<std::string>(key + ": changed from " + x + " to " + y);
  };
  if (a.underlay_interface != b.underlay_interface) {
    return changed("underlay.interface", a.underlay_interface, b.underlay_interface);
  }
  if (a.local != b.local)
    return changed("underlay.local", a.local.to_string(), b.local.to_string());
  if (a.port != b.port)
    return changed("underlay.port", std::to_string(a.port), std::to_string(b.port));
  if (a.fdb_ageing_s != b.fdb_ageing_s) {
    return changed("underlay.fdb_ageing", std::to_string(a.fdb_ageing_s),
                   std::to_string(b.fdb_ageing_s));
  }
  if (a.dscp_mode != b.dscp_mode || a.dscp != b.dscp) {
    return changed("underlay.dscp", dscp_text(a), dscp_text(b));
  }
  if (a.ecn != b.ecn) return changed("underlay.ecn", ecn_text(a.ecn), ecn_text(b.ecn));
  if (a.lro != b.lro) {
    auto text = [](LroSetting s) {
      return s == LroSetting::kDisable ? "\"disable\"" : "\"ignore\"";
    };
    return changed("underlay.lro", text(a.lro), text(b.lro));
  }
  if (a.fast_path != b.fast_path) {
    // Appended, not `"literal" + std::string&&`: GCC 12 at -O3 (the Release build that
    // bench/e2e uses) reports a false -Wstringop-overflow for that form.
    auto text = [](FastPathSetting s) {
      std::string q = "\"";
      q += to_string(s);
      q += '"';
      return q;
    };
    return changed("underlay.fast_path", text(a.fast_path), text(b.fast_path));
  }
  if (a.control_socket != b.control_socket) {
    return changed("control.socket", a.control_socket, b.control_socket);
  }
  if (a.metrics_listen != b.metrics_listen) {
    return changed("metrics.listen", a.metrics_listen, b.metrics_listen);
  }
  // The Directory was built from [cluster] (endpoints, name, credentials, limits).
  if (a.cluster != b.cluster) {
    return std::optional<std::string>(std::string("cluster: ") + (a.cluster && b.cluster ? "changed"
                                                                  : a.cluster            ? "removed"
                                                                              : "added"));
  }
  return std::nullopt;
}

ReloadPlan plan_reload(const Config& old, const Config& next) {
  ReloadPlan plan;
  if (auto why = needs_restart(old, next)) {
    plan.refused = old.path + ": " + *why + "; restart required (running config kept)";
    return plan;
  }
  plan.next = next;
  // 1. Removals, so the TAP names and context IDs are free again.
  std::vector<const NetworkConfig*> staying;
  for (const auto& n : old.networks) {
    const NetworkConfig* nc = find(next, n.name);
    // A changed address or MAC recreates the TAP too: the new one gets
    // exactly the file's, with no leftovers of the old.
    if (nc != nullptr && nc->context_id == n.context_id && nc->tap == n.tap &&
        nc->addresses == n.addresses && nc->mac == n.mac) {
      staying.push_back(&n);
      continue;
    }
    ReloadAction a{ReloadAction::Kind::kRemoveNetwork, n.name};
    a.recreate = nc != nullptr;
    plan.actions.push_back(std::move(a));
  }
  // 2. The networks that stay.
  for (const NetworkConfig* n : staying)
    plan_network(*n, *find(next, n->name), plan);
  // 3. New and recreated networks, in the file's order.
  for (const auto& nc : next.networks) {
    if (std::any_of(staying.begin(), staying.end(),
                    [&](const NetworkConfig* s) { return s->name == nc.name; })) {
      continue;
    }
    ReloadAction a{ReloadAction::Kind::kCreateNetwork, nc.name};
    a.config = nc;
    plan.actions.push_back(std::move(a));
  }
  return plan;
}

ReloadPlan plan_reload_file(const Config& old, const std::string& path) {
  Config next;
  try {
    next = load_config(path);
  } catch (const ConfigError& e) {
    ReloadPlan plan;
    plan.refused = e.what();
    plan.invalid_config = true;
    return plan;
  }
  return plan_reload(old, next);
}

}  // namespace stt::daemon
