#include "linux/netlink.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

namespace stt::sys {
namespace {

constexpr std::size_t kBufSize =
    32768;  // MNL_SOCKET_BUFFER_SIZE is page-sized; links can be larger

int family_of(const wire::IpAddr& a) {
  return a.is_v6() ? AF_INET6 : AF_INET;
}

std::optional<wire::IpAddr> addr_attr(const nlattr* a, int family) {
  const auto* p = static_cast<const std::uint8_t*>(mnl_attr_get_payload(a));
  const auto len = mnl_attr_get_payload_len(a);
  if (family == AF_INET && len == 4) return wire::IpAddr::v4(p);
  if (family == AF_INET6 && len == 16) return wire::IpAddr::v6(p);
  return std::nullopt;
}

// ------------------------------------------------------------------ links
struct LinkQuery {
  std::optional<LinkInfo> out;
};

int link_info_cb(const nlattr* a, void* data) {
  if (mnl_attr_get_type(a) == IFLA_INFO_KIND) {
    static_cast<LinkInfo*>(data)->kind = mnl_attr_get_str(a);
  }
  return MNL_CB_OK;
}

int link_attr_cb(const nlattr* a, void* data) {
  auto* info = static_cast<LinkInfo*>(data);
  switch (mnl_attr_get_type(a)) {
    case IFLA_ADDRESS:
      if (mnl_attr_get_payload_len(a) == 6) {
        std::memcpy(info->mac.b.data(), mnl_attr_get_payload(a), 6);
      }
      break;
    case IFLA_MTU:
      if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0) info->mtu = mnl_attr_get_u32(a);
      break;
    case IFLA_LINKINFO:
      mnl_attr_parse_nested(a, link_info_cb, info);
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

int link_cb(const nlmsghdr* nlh, void* data) {
  auto* q = static_cast<LinkQuery*>(data);
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  LinkInfo info;
  info.index = ifi->ifi_index;
  info.up = (ifi->ifi_flags & IFF_UP) != 0;
  mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, &info);
  q->out = std::move(info);
  return MNL_CB_OK;
}

// ------------------------------------------------------------------ routes
struct RouteQuery {
  int family;
  std::optional<RouteInfo> out;
};

struct RouteAttrs {
  RouteQuery* q;
  RouteInfo* r;
};

int route_metric_cb(const nlattr* a, void* data) {
  if (mnl_attr_get_type(a) == RTAX_MTU) static_cast<RouteInfo*>(data)->mtu = mnl_attr_get_u32(a);
  return MNL_CB_OK;
}

int route_attr_cb(const nlattr* a, void* data) {
  auto* ra = static_cast<RouteAttrs*>(data);
  switch (mnl_attr_get_type(a)) {
    case RTA_OIF:
      ra->r->oif = static_cast<int>(mnl_attr_get_u32(a));
      break;
    case RTA_GATEWAY:
      ra->r->gateway = addr_attr(a, ra->q->family);
      break;
    case RTA_PREFSRC:
      ra->r->prefsrc = addr_attr(a, ra->q->family);
      break;
    case RTA_METRICS:
      mnl_attr_parse_nested(a, route_metric_cb, ra->r);
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

int route_cb(const nlmsghdr* nlh, void* data) {
  auto* q = static_cast<RouteQuery*>(data);
  RouteInfo r;
  RouteAttrs ra{q, &r};
  mnl_attr_parse(nlh, sizeof(rtmsg), route_attr_cb, &ra);
  q->out = r;
  return MNL_CB_OK;
}

// ------------------------------------------------------------- neighbours
struct NeighQuery {
  std::optional<NeighInfo> out;
};

int neigh_attr_cb(const nlattr* a, void* data) {
  if (mnl_attr_get_type(a) == NDA_LLADDR && mnl_attr_get_payload_len(a) == 6) {
    wire::MacAddr m;
    std::memcpy(m.b.data(), mnl_attr_get_payload(a), 6);
    static_cast<NeighInfo*>(data)->mac = m;
  }
  return MNL_CB_OK;
}

int neigh_cb(const nlmsghdr* nlh, void* data) {
  auto* q = static_cast<NeighQuery*>(data);
  const auto* nd = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
  NeighInfo n;
  n.state = nd->ndm_state;
  mnl_attr_parse(nlh, sizeof(ndmsg), neigh_attr_cb, &n);
  q->out = n;
  return MNL_CB_OK;
}

}  // namespace

bool NeighInfo::usable() const {
  constexpr std::uint16_t kOk =
      NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;
  return mac.has_value() && (state & kOk) != 0;
}

std::string NeighInfo::state_name() const {
  if (state & NUD_PERMANENT) return "permanent";
  if (state & NUD_NOARP) return "noarp";
  if (state & NUD_REACHABLE) return "reachable";
  if (state & NUD_STALE) return "stale";
  if (state & NUD_DELAY) return "delay";
  if (state & NUD_PROBE) return "probe";
  if (state & NUD_INCOMPLETE) return "incomplete";
  if (state & NUD_FAILED) return "failed";
  return "none";
}

void Netlink::CloseMnl::operator()(mnl_socket* s) const noexcept {
  mnl_socket_close(s);
}

Netlink::Netlink()
    : nl_(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC)),
      buf_(std::make_unique_for_overwrite<char[]>(kBufSize)) {
  if (!nl_) {
    const int e = errno;
    throw std::system_error(e, std::generic_category(), "rtnetlink socket");
  }
  if (mnl_socket_bind(nl_.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    const int e = errno;
    throw std::system_error(e, std::generic_category(), "rtnetlink bind");
  }
  portid_ = mnl_socket_get_portid(nl_.get());
}

Netlink::~Netlink() = default;

// Sends one request (NLM_F_ACK set by the caller when no answer is
// expected) and runs `cb` on every answer until the ACK or an error.
bool Netlink::request(nlmsghdr* nlh, int (*cb)(const nlmsghdr*, void*), void* data) {
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(nl_.get(), nlh, nlh->nlmsg_len) < 0) return false;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl_.get(), buf_.get(), kBufSize);
    if (n < 0) return false;
    const int r = mnl_cb_run(buf_.get(), static_cast<std::size_t>(n), seq_, portid_, cb, data);
    if (r < 0) return false;  // errno from the kernel's NLMSG_ERROR
    if (r == MNL_CB_STOP) return true;
    // A non-ACKed single answer ends after its one message.
    if (!(nlh->nlmsg_flags & (NLM_F_ACK | NLM_F_DUMP))) return true;
  }
}

std::optional<LinkInfo> Netlink::link(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    errno = EINVAL;
    return std::nullopt;
  }
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  LinkQuery q;
  if (!request(nlh, link_cb, &q)) {
    return std::nullopt;
  }
  return q.out;
}

std::optional<LinkInfo> Netlink::link(int index) {
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  LinkQuery q;
  if (!request(nlh, link_cb, &q)) {
    return std::nullopt;
  }
  return q.out;
}

std::optional<RouteInfo> Netlink::route(const wire::IpAddr& dst) {
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<unsigned char>(family_of(dst));
  rtm->rtm_dst_len = static_cast<unsigned char>(dst.size() * 8);
  mnl_attr_put(nlh, RTA_DST, dst.size(), dst.data());
  RouteQuery q{family_of(dst), std::nullopt};
  if (!request(nlh, route_cb, &q)) {
    return std::nullopt;
  }
  return q.out;
}

std::optional<NeighInfo> Netlink::neighbour(int ifindex, const wire::IpAddr& addr) {
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_GETNEIGH;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
  nd->ndm_family = static_cast<unsigned char>(family_of(addr));
  nd->ndm_ifindex = ifindex;
  mnl_attr_put(nlh, NDA_DST, addr.size(), addr.data());
  NeighQuery q;
  if (!request(nlh, neigh_cb, &q)) {
    return std::nullopt;  // ENOENT: no entry
  }
  return q.out;
}

bool Netlink::resolve(int ifindex, const wire::IpAddr& addr) {
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_NEWNEIGH;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
  auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
  nd->ndm_family = static_cast<unsigned char>(family_of(addr));
  nd->ndm_ifindex = ifindex;
  nd->ndm_state = NUD_NONE;
  nd->ndm_flags = NTF_USE;
  mnl_attr_put(nlh, NDA_DST, addr.size(), addr.data());
  return request(nlh, nullptr, nullptr);
}

bool Netlink::delete_link(const std::string& name) {
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_DELLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  return request(nlh, nullptr, nullptr);
}

}  // namespace stt::sys
