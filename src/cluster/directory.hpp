#pragma once
// The Directory: sttd's membership in the etcd directory (docs/cluster.md), on its own thread.
//
// It registers this host under a lease kept alive, publishes the local MACs it is given, reads
// the directory and then watches it from the read's revision, and hands the resulting Changes to
// sttd's event loop through a queue whose eventfd the loop polls. The loop never waits on etcd:
// it only calls the non-blocking methods below. When etcd is unreachable the Directory keeps
// retrying with backoff and hands over nothing, so the loop keeps what it knew (fail-static).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster/etcd_client.hpp"
#include "cluster/model.hpp"

namespace stt::cluster {

struct DirectoryConfig {
  EtcdOptions etcd;
  std::string prefix = "/stt";
  std::int64_t lease_ttl_s = 10;
  Limits limits;
  HostRecord self;  // name, underlay address, port, served context IDs
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::int64_t read_page = 32768;  // keys per Range request of a full read
};

enum class DirectoryState : std::uint8_t { kConnecting, kConnected, kDisconnected };
std::string_view state_name(DirectoryState s);

// What `sttctl cluster` shows.
struct DirectoryStatus {
  DirectoryState state = DirectoryState::kConnecting;
  std::string name;
  std::string endpoint;
  std::int64_t revision = 0;  // the last revision applied (read or watch)
  std::int64_t lease_id = 0;
  std::int64_t lease_ttl_s = 0;  // as of the last renewal
  std::size_t hosts = 0;         // believed remote hosts
  std::size_t macs = 0;          // believed remote MACs
  std::size_t local_macs = 0;    // MACs this host publishes
  std::string last_error;
  std::uint64_t reconnects = 0;
  std::uint64_t registrations = 0;  // leases granted (1 + re-registrations after expiry)
  std::uint64_t moves_won = 0;      // claims taken from another host
  std::uint64_t moves_lost = 0;     // own entries withdrawn because another host took the claim
  ClusterCounters counters;
};

class Directory {
 public:
  explicit Directory(DirectoryConfig cfg);
  ~Directory();  // stop(true)
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  void start();
  // Stops the thread; with revoke, first revokes the lease so the others drop this host at
  // once (a clean stop). Bounded by the etcd call timeout.
  void stop(bool revoke = true);

  // ---- for the loop; none of these block on etcd ----
  // Readable (eventfd) when changes wait in the queue.
  int event_fd() const { return efd_; }
  // Moves every queued change into `out` (appending) and clears the eventfd.
  void take_changes(std::vector<Change>& out);
  // Nothing is queued for the loop now and no full read is being handed over (a burst of
  // changes, like a full read, is over).
  bool drained() const;
  // The number of MACs the last full read brought (0 before the first), so the loop can size
  // its tables once instead of growing them step by step.
  std::size_t read_macs() const;
  // A MAC seen on the TAP side of context ctx, with the addresses snooped from it so far.
  void publish_local(std::uint64_t ctx, const wire::MacAddr& mac, std::vector<wire::IpAddr> ips);
  // The tenant went quiet: withdraw its entry (and its claim, when still ours).
  void withdraw_local(std::uint64_t ctx, const wire::MacAddr& mac);
  // The context IDs this host serves changed (a reload): registered again with them.
  void set_contexts(std::vector<std::uint64_t> contexts);
  DirectoryStatus status() const;

 private:
  struct LocalMac {
    std::vector<wire::IpAddr> ips;
    std::uint64_t seq = 0;  // the seq published under our lease; 0: not published
  };
  struct Request {
    bool publish;
    CtxMac key;
    std::vector<wire::IpAddr> ips;
  };
  struct Inbox {
    std::vector<WatchBatch> batches;
    bool watch_ended = false;
    EtcdStatus watch_status;
    std::vector<Request> requests;
    std::optional<std::vector<std::uint64_t>> contexts;
  };

  void run();
  bool session();  // one connection's life; false when stopping
  bool register_host();
  bool resync();
  bool publish(const CtxMac& k);
  bool withdraw(const CtxMac& k);
  bool renew_lease();
  void after_flush();
  void deliver();
  void set_error(const std::string& what, const EtcdStatus& s);
  void set_state(DirectoryState s);
  bool wait_backoff(std::chrono::milliseconds d);
  bool retryable(const EtcdStatus& s);

  DirectoryConfig cfg_;
  EtcdClient client_;
  DirectoryModel model_;
  int efd_ = -1;
  std::thread thread_;
  std::thread reader_;
  std::unique_ptr<EtcdWatch> watch_;

  // Owned by the Directory thread.
  std::int64_t lease_id_ = 0;
  std::int64_t revision_ = 0;
  std::unordered_map<CtxMac, LocalMac, CtxMacHash> local_;
  std::vector<Change> pending_;  // changes flushed, not yet handed over

  // Changes handed over but not taken past which the Directory thread waits for the loop (a
  // bounded while): a full read then never holds more than a few chunks in flight, however
  // much faster it is judged than applied.
  static constexpr std::size_t kOutboxHigh = 2 * DirectoryModel::kSpillEvery;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::condition_variable taken_;  // the loop took the outbox
  bool stop_ = false;
  bool revoke_on_stop_ = true;
  Inbox inbox_;
  std::vector<Change> outbox_;
  bool reading_ = false;       // a full read is being fed in and handed over
  std::size_t read_macs_ = 0;  // see read_macs()
  DirectoryStatus status_;
};

}  // namespace stt::cluster
