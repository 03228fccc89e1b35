#include "cluster/directory.hpp"

#include <malloc.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace stt::cluster {

using Clock = std::chrono::steady_clock;

namespace {

// Appends everything in `from` to `to` and empties `from` (a swap when `to` is empty).
void move_all(std::vector<Change>& from, std::vector<Change>& to) {
  if (to.empty()) {
    to.swap(from);
    return;
  }
  for (auto& c : from)
    to.push_back(std::move(c));
  from.clear();
}

}  // namespace

std::string_view state_name(DirectoryState s) {
  switch (s) {
    case DirectoryState::kConnecting:
      return "connecting";
    case DirectoryState::kConnected:
      return "connected";
    case DirectoryState::kDisconnected:
      return "disconnected";
  }
  return "?";
}

Directory::Directory(DirectoryConfig cfg)
    : cfg_(std::move(cfg)), client_(cfg_.etcd), model_(cfg_.prefix, cfg_.self.name, cfg_.limits) {
  efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  status_.name = cfg_.self.name;
}

Directory::~Directory() {
  stop(true);
  if (efd_ >= 0) ::close(efd_);
}

void Directory::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Directory::stop(bool revoke) {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    revoke_on_stop_ = revoke;
  }
  cv_.notify_all();
  taken_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Directory::take_changes(std::vector<Change>& out) {
  std::uint64_t v;
  while (::read(efd_, &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
  }
  {
    std::lock_guard lk(mu_);
    move_all(outbox_, out);
  }
  taken_.notify_all();
}

bool Directory::drained() const {
  std::lock_guard lk(mu_);
  return outbox_.empty() && !reading_;
}

std::size_t Directory::read_macs() const {
  std::lock_guard lk(mu_);
  return read_macs_;
}

void Directory::publish_local(std::uint64_t ctx, const wire::MacAddr& mac,
                              std::vector<wire::IpAddr> ips) {
  {
    std::lock_guard lk(mu_);
    inbox_.requests.push_back(Request{true, CtxMac{ctx, mac.as_u64()}, std::move(ips)});
  }
  cv_.notify_all();
}

void Directory::withdraw_local(std::uint64_t ctx, const wire::MacAddr& mac) {
  {
    std::lock_guard lk(mu_);
    inbox_.requests.push_back(Request{false, CtxMac{ctx, mac.as_u64()}, {}});
  }
  cv_.notify_all();
}

void Directory::set_contexts(std::vector<std::uint64_t> contexts) {
  std::sort(contexts.begin(), contexts.end());
  contexts.erase(std::unique(contexts.begin(), contexts.end()), contexts.end());
  {
    std::lock_guard lk(mu_);
    inbox_.contexts = std::move(contexts);
  }
  cv_.notify_all();
}

DirectoryStatus Directory::status() const {
  std::lock_guard lk(mu_);
  return status_;
}

void Directory::set_error(const std::string& what, const EtcdStatus& s) {
  std::lock_guard lk(mu_);
  status_.last_error = what + ": " + s.to_string();
}

void Directory::set_state(DirectoryState s) {
  std::lock_guard lk(mu_);
  status_.state = s;
  status_.endpoint = client_.endpoint();
}

bool Directory::wait_backoff(std::chrono::milliseconds d) {
  std::unique_lock lk(mu_);
  return !cv_.wait_for(lk, d, [this] { return stop_; });
}

void Directory::deliver() {
  std::unique_lock lk(mu_);
  status_.revision = revision_;
  status_.hosts = model_.hosts().size();
  status_.macs = model_.mac_count();
  status_.local_macs = local_.size();
  status_.lease_id = lease_id_;
  status_.counters = model_.counters();
  if (pending_.empty()) return;
  move_all(pending_, outbox_);
  std::uint64_t one = 1;
  // The eventfd counter cannot overflow here: the loop drains it on every wakeup.
  [[maybe_unused]] auto n = ::write(efd_, &one, sizeof one);
  // Bounded, so a consumer that does not take (a test, a stalled loop) only costs memory, as
  // it did without the wait.
  if (outbox_.size() >= kOutboxHigh)
    taken_.wait_for(lk, std::chrono::seconds(2),
                    [this] { return stop_ || outbox_.size() < kOutboxHigh; });
}

void Directory::run() {
  auto backoff = cfg_.backoff_min;
  while (true) {
    {
      std::lock_guard lk(mu_);
      if (stop_) break;
    }
    bool more = session();
    bool went_live;
    {
      std::lock_guard lk(mu_);
      went_live = status_.state == DirectoryState::kConnected;
      status_.state = DirectoryState::kDisconnected;
      ++status_.reconnects;
    }
    if (reader_.joinable()) {
      watch_->cancel();
      reader_.join();
    }
    watch_.reset();
    if (!more) break;
    client_.fail_over();
    if (went_live) backoff = cfg_.backoff_min;
    if (!wait_backoff(backoff)) break;
    backoff = std::min(backoff * 2, cfg_.backoff_max);
  }
  if (reader_.joinable()) {
    watch_->cancel();
    reader_.join();
  }
  watch_.reset();
  bool revoke;
  {
    std::lock_guard lk(mu_);
    revoke = revoke_on_stop_;
  }
  if (revoke && lease_id_ != 0) {
    // A clean stop: everything this host wrote goes at once, so others drop it now.
    if (client_.lease_revoke(lease_id_).ok()) lease_id_ = 0;
  }
}

bool Directory::renew_lease() {
  std::int64_t ttl = 0;
  auto s = client_.lease_keepalive(lease_id_, ttl);
  if (!s.ok() && !s.lease_not_found()) {
    set_error("lease keepalive", s);
    return false;
  }
  if (!s.ok() || ttl <= 0) {
    lease_id_ = 0;  // expired while we were away: register again
    return true;
  }
  std::lock_guard lk(mu_);
  status_.lease_ttl_s = ttl;
  return true;
}

bool Directory::register_host() {
  if (lease_id_ != 0 && !renew_lease()) return false;
  if (lease_id_ == 0) {
    std::int64_t id = 0, ttl = 0;
    auto s = client_.lease_grant(cfg_.lease_ttl_s, id, ttl);
    if (!s.ok()) {
      set_error("lease grant", s);
      return false;
    }
    lease_id_ = id;
    for (auto& [k, l] : local_)
      l.seq = 0;  // everything under the old lease is gone
    std::lock_guard lk(mu_);
    ++status_.registrations;
    status_.lease_ttl_s = ttl;
    status_.lease_id = id;
  }
  auto s = client_.put(host_key(cfg_.prefix, cfg_.self.name), encode_host(cfg_.self), lease_id_);
  if (!s.ok()) {
    set_error("register " + cfg_.self.name, s);
    return false;
  }
  return true;
}

bool Directory::resync() {
  // Paged at one revision: the first page fixes R, the others read at R from after the last
  // key. etcd 3.4 walks its index from the page's first key to the end of the range for every
  // page, so pages are large (a few) rather than small (many: quadratic); the key-values go
  // from the response into the model without copies.
  const std::string base = cfg_.prefix + "/";
  auto feed = [this](std::string_view key, std::string_view value, std::int64_t create) {
    model_.put(key, value, create);
  };
  auto reading = [this](bool on) {
    std::lock_guard lk(mu_);
    reading_ = on;
  };
  const std::function<void(const RangeResult&)> first = [this](const RangeResult& r) {
    model_.begin_resync();
    // About half the keys are MAC entries and half their claims (docs/cluster.md).
    const auto macs = static_cast<std::size_t>(r.count / 2 + 1);
    model_.reserve(macs);
    std::lock_guard lk(mu_);
    read_macs_ = std::min(macs, cfg_.limits.max_macs);
  };
  reading(true);
  RangeResult r;
  auto s = client_.range_pages(base, prefix_range_end(base), 0, cfg_.read_page, feed, first, r);
  if (!s.ok()) {
    set_error("read " + cfg_.prefix + "/", s);
    reading(false);
    return false;
  }
  const std::int64_t at = r.revision;
  revision_ = at;
  model_.flush(pending_, [this](std::vector<Change>&) { deliver(); });
  after_flush();
  reading(false);
  deliver();
  // Wakes the loop even when the last chunk was taken already: it sees drained() now.
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(efd_, &one, sizeof one);
  // A full read leaves freed buffers (responses, the judged list) in the heap: give them back.
  ::malloc_trim(0);
  return true;
}

bool Directory::publish(const CtxMac& k) {
  auto it = local_.find(k);
  if (it == local_.end()) return true;
  LocalMac& l = it->second;
  wire::MacAddr mac = mac_from_u64(k.mac);
  std::string ckey = claim_key(cfg_.prefix, k.ctx, mac);
  std::string mkey = mac_key(cfg_.prefix, cfg_.self.name, k.ctx, mac);
  // A lost compare means another host moved the MAC in between: read again and decide again.
  for (int attempt = 0; attempt < 4; ++attempt) {
    RangeResult cr;
    auto s = client_.range(ckey, {}, cr);
    if (!s.ok()) {
      set_error("read " + ckey, s);
      return false;
    }
    std::uint64_t seq;
    Compare cmp{ckey, Compare::Target::kCreate, Compare::Result::kEqual, 0, {}};
    bool taken_from_other = false;
    if (cr.kvs.empty()) {
      seq = std::max(model_.highest_seq(k.ctx, mac), l.seq) + 1;
    } else {
      cmp.target = Compare::Target::kMod;
      cmp.number = cr.kvs[0].mod_revision;
      auto c = decode_claim(cr.kvs[0].value);
      if (c && c->host == cfg_.self.name) {
        seq = c->seq;
      } else {
        seq = std::max(c ? c->seq : 0, model_.highest_seq(k.ctx, mac)) + 1;
        taken_from_other = c.has_value();
      }
    }
    MacRecord rec{mac, k.ctx, cfg_.self.address, l.ips, seq};
    TxnResult tr;
    s = client_.txn({cmp},
                    {TxnOp::put(ckey, encode_claim(ClaimRecord{cfg_.self.name, seq}), lease_id_),
                     TxnOp::put(mkey, encode_mac(rec), lease_id_)},
                    {}, tr);
    if (!s.ok()) {
      set_error("claim " + ckey, s);
      return false;
    }
    if (tr.succeeded) {
      l.seq = seq;
      if (taken_from_other) {
        std::lock_guard lk(mu_);
        ++status_.moves_won;
      }
      return true;
    }
  }
  return true;  // still contended: the next publish_local() (or the watch) settles it
}

bool Directory::withdraw(const CtxMac& k) {
  auto it = local_.find(k);
  if (it == local_.end()) return true;
  std::uint64_t seq = it->second.seq;
  wire::MacAddr mac = mac_from_u64(k.mac);
  if (seq != 0) {
    std::string ckey = claim_key(cfg_.prefix, k.ctx, mac);
    std::string mkey = mac_key(cfg_.prefix, cfg_.self.name, k.ctx, mac);
    RangeResult cr;
    auto s = client_.range(ckey, {}, cr);
    if (!s.ok()) {
      set_error("read " + ckey, s);
      return false;
    }
    auto c = cr.kvs.empty() ? std::nullopt : decode_claim(cr.kvs[0].value);
    TxnResult tr;
    if (c && c->host == cfg_.self.name) {
      // Drop the claim only if nobody took it since we read it.
      s = client_.txn(
          {Compare{
              ckey, Compare::Target::kMod, Compare::Result::kEqual, cr.kvs[0].mod_revision, {}}},
          {TxnOp::del(ckey), TxnOp::del(mkey)}, {TxnOp::del(mkey)}, tr);
    } else {
      s = client_.del(mkey);
    }
    if (!s.ok()) {
      set_error("withdraw " + mkey, s);
      return false;
    }
  }
  local_.erase(it);
  return true;
}

void Directory::after_flush() {
  // Another host took the claim of a MAC we publish (it moved there): withdraw ours.
  for (auto it = local_.begin(); it != local_.end();) {
    const LocalMac& l = it->second;
    wire::MacAddr mac = mac_from_u64(it->first.mac);
    const auto c = model_.claim(it->first.ctx, mac);
    if (l.seq == 0 || !c || c->host == cfg_.self.name || c->seq <= l.seq) {
      ++it;
      continue;
    }
    auto s = client_.del(mac_key(cfg_.prefix, cfg_.self.name, it->first.ctx, mac));
    if (!s.ok()) set_error("withdraw moved MAC", s);
    {
      std::lock_guard lk(mu_);
      ++status_.moves_lost;
    }
    it = local_.erase(it);
  }
}

bool Directory::session() {
  set_state(DirectoryState::kConnecting);
  auto s = client_.connect();
  if (!s.ok()) {
    set_error("connect", s);
    return true;
  }
  set_state(DirectoryState::kConnecting);
  if (!register_host() || !resync()) return true;

  auto start_watch = [this]() -> bool {
    std::string from = cfg_.prefix + "/";
    EtcdStatus ws;
    watch_ = client_.watch(from, prefix_range_end(from), revision_ + 1, ws);
    if (!watch_) {
      set_error("watch", ws);
      return false;
    }
    {
      std::lock_guard lk(mu_);
      inbox_.batches.clear();
      inbox_.watch_ended = false;
    }
    EtcdWatch* w = watch_.get();
    reader_ = std::thread([this, w] {
      WatchBatch b;
      while (w->next(b)) {
        {
          std::lock_guard lk(mu_);
          inbox_.batches.push_back(std::move(b));
        }
        cv_.notify_all();
        b = WatchBatch{};
      }
      EtcdStatus st = w->finish();
      {
        std::lock_guard lk(mu_);
        inbox_.watch_ended = true;
        inbox_.watch_status = st;
      }
      cv_.notify_all();
    });
    return true;
  };
  auto stop_watch = [this] {
    if (reader_.joinable()) {
      watch_->cancel();
      reader_.join();
    }
    watch_.reset();
  };

  if (!start_watch()) return true;
  for (auto& [k, l] : local_)
    if (l.seq == 0 && !publish(k)) return true;
  set_state(DirectoryState::kConnected);

  auto renew_every =
      std::chrono::milliseconds(std::max<std::int64_t>(cfg_.lease_ttl_s * 1000 / 3, 200));
  auto next_renew = Clock::now() + renew_every;
  while (true) {
    Inbox in;
    {
      std::unique_lock lk(mu_);
      cv_.wait_until(lk, next_renew, [this] {
        return stop_ || !inbox_.batches.empty() || inbox_.watch_ended || !inbox_.requests.empty() ||
               inbox_.contexts.has_value();
      });
      if (stop_) return false;
      in.batches.swap(inbox_.batches);
      in.requests.swap(inbox_.requests);
      in.contexts.swap(inbox_.contexts);
      inbox_.contexts.reset();
      in.watch_ended = inbox_.watch_ended;
      in.watch_status = inbox_.watch_status;
    }
    bool need_resync = false;
    for (const auto& b : in.batches) {
      if (b.compact_revision != 0 || b.canceled) {
        need_resync = true;  // compacted past us, or cancelled: read again, then watch again
        break;
      }
      for (const auto& e : b.events) {
        if (e.type == WatchEvent::Type::kPut)
          model_.put(e.kv.key, e.kv.value, e.kv.create_revision);
        else
          model_.del(e.kv.key);
      }
      if (b.revision > revision_) revision_ = b.revision;
    }
    if (!in.batches.empty()) {
      model_.flush(pending_, [this](std::vector<Change>&) { deliver(); });
      after_flush();
      deliver();
    }
    if (need_resync) {
      stop_watch();
      if (!resync() || !start_watch()) return true;
    } else if (in.watch_ended) {
      set_error("watch ended", in.watch_status);
      return true;
    }
    for (auto& r : in.requests) {
      if (r.publish) {
        auto& l = local_[r.key];
        bool changed = l.seq == 0 || l.ips != r.ips;
        l.ips = std::move(r.ips);
        if (changed && !publish(r.key)) return true;
      } else if (!withdraw(r.key)) {
        return true;
      }
    }
    if (in.contexts) {
      cfg_.self.contexts = std::move(*in.contexts);
      if (!register_host()) return true;
    }
    if (!in.requests.empty()) deliver();
    if (Clock::now() >= next_renew) {
      if (!renew_lease()) return true;
      if (lease_id_ == 0) {
        // The lease expired under us (etcd stalled longer than its TTL): register again.
        if (!register_host()) return true;
        for (auto& [k, l] : local_)
          if (!publish(k)) return true;
      }
      next_renew = Clock::now() + renew_every;
      deliver();
    }
  }
}

}  // namespace stt::cluster
