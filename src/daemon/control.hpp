#pragma once
// The control socket: a Unix stream socket speaking one JSON object per
// line. The protocol (verbs, their arguments, the reply envelope) is
// defined once, in control/protocol.hpp, which sttctl uses too.

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>

#include "daemon/event_loop.hpp"

namespace stt::daemon {

// Implemented by the daemon; called on the event-loop thread. Each returns
// the JSON "result", or throws ControlRequestError with a message for the
// operator (bad argument, unknown network, ...).
class ControlHandler {
 public:
  virtual ~ControlHandler() = default;
  virtual nlohmann::json show() = 0;
  virtual nlohmann::json fdb_show(const std::string& network) = 0;  // "" = all networks
  virtual nlohmann::json fdb_add(const std::string& mac, const std::string& network,
                                 const std::string& peer) = 0;
  virtual nlohmann::json fdb_del(const std::string& mac, const std::string& network,
                                 const std::string& peer) = 0;
  virtual nlohmann::json peer_add(const std::string& peer, const std::string& network) = 0;
  virtual nlohmann::json peer_del(const std::string& peer, const std::string& network) = 0;
  virtual nlohmann::json stats() = 0;
  virtual nlohmann::json reassembly() = 0;
  virtual nlohmann::json reload() = 0;
  virtual nlohmann::json cluster() = 0;
};

class ControlRequestError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Handles one request line and returns the reply line (without newline).
std::string handle_control_request(ControlHandler& h, const std::string& line);

// Listens on `path` (replacing a stale socket file), serves connections
// on the event loop, and unlinks the socket when destroyed.
class ControlServer {
 public:
  ControlServer(const std::string& path, ControlHandler& handler, EventLoop& loop);  // throws
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stt::daemon
