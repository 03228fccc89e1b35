// The control socket: request parsing and dispatch, and a small
// non-blocking Unix stream server on the daemon's event loop.

#include "daemon/control.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "control/protocol.hpp"
#include "linux/fd.hpp"
#include "wire/addr.hpp"

namespace stt::daemon {

namespace {

using nlohmann::json;

std::string dump_line(const json& j) {
  // replace: a handler's string with bad UTF-8 must not turn into an exception.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string error_reply(const std::string& message) {
  return dump_line(json{{control::kOk, false}, {control::kError, message}});
}

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// The request's arguments: only those its verb takes may appear besides
// the verb key.
class Args {
 public:
  Args(const json& req, const control::VerbSpec& verb) : req_(req) {
    for (const auto& item : req.items()) {
      const std::string& k = item.key();
      if (k == control::kCmd) continue;
      if (!verb.takes(k)) {
        throw ControlRequestError("unknown argument " + in_quotes(k) + " for " +
                                  in_quotes(verb.name));
      }
    }
  }

  std::string str(const char* key, bool required = true) const {
    auto it = req_.find(key);
    if (it == req_.end()) {
      if (required) throw ControlRequestError("missing argument " + in_quotes(key));
      return {};
    }
    if (!it->is_string())
      throw ControlRequestError("argument " + in_quotes(key) + " must be a string");
    return it->get<std::string>();
  }
  std::string mac() const {
    std::string s = str(control::arg::kMac);
    if (!wire::MacAddr::parse(s)) throw ControlRequestError("invalid MAC address " + in_quotes(s));
    return s;
  }
  std::string peer() const {
    std::string s = str(control::arg::kPeer);
    if (!wire::IpAddr::parse(s)) throw ControlRequestError("invalid IP address " + in_quotes(s));
    return s;
  }
  std::string network() const {
    std::string s = str(control::arg::kNetwork);
    if (s.empty()) {
      throw ControlRequestError("argument " + in_quotes(control::arg::kNetwork) +
                                " must not be empty");
    }
    return s;
  }

 private:
  const json& req_;
};

json dispatch(ControlHandler& h, const json& req) {
  namespace verb = control::verb;
  if (!req.is_object()) throw ControlRequestError("request must be a JSON object");
  auto c = req.find(control::kCmd);
  if (c == req.end() || !c->is_string()) {
    throw ControlRequestError("request needs a string " + in_quotes(control::kCmd));
  }
  const std::string cmd = c->get<std::string>();
  const std::optional<control::VerbSpec> spec = control::find_verb(cmd);
  if (!spec) throw ControlRequestError("unknown command " + in_quotes(cmd));
  const Args a(req, *spec);
  if (cmd == verb::kShow) return h.show();
  if (cmd == verb::kStats) return h.stats();
  if (cmd == verb::kReassembly) return h.reassembly();
  if (cmd == verb::kCluster) return h.cluster();
  if (cmd == verb::kReload) return h.reload();
  if (cmd == verb::kFdbShow) return h.fdb_show(a.str(control::arg::kNetwork, false));
  if (cmd == verb::kFdbAdd || cmd == verb::kFdbDel) {
    const std::string mac = a.mac(), net = a.network(), peer = a.peer();
    return cmd == verb::kFdbAdd ? h.fdb_add(mac, net, peer) : h.fdb_del(mac, net, peer);
  }
  if (cmd == verb::kPeerAdd || cmd == verb::kPeerDel) {
    const std::string peer = a.peer(), net = a.network();
    return cmd == verb::kPeerAdd ? h.peer_add(peer, net) : h.peer_del(peer, net);
  }
  // A verb in control::kVerbs that nothing here serves: a bug, caught by
  // control_test's every-verb case.
  throw ControlRequestError("command " + in_quotes(cmd) + " is not implemented");
}

}  // namespace

std::string handle_control_request(ControlHandler& h, const std::string& line) {
  try {
    json req = json::parse(line);
    json result = dispatch(h, req);
    return dump_line(json{{control::kOk, true}, {control::kResult, std::move(result)}});
  } catch (const json::parse_error& e) {
    return error_reply(std::string("malformed JSON request: ") + e.what());
  } catch (const ControlRequestError& e) {
    return error_reply(e.what());
  } catch (const std::exception& e) {
    return error_reply(std::string("internal error: ") + e.what());
  }
}

// ---------------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxLine = 64 * 1024;  // a request longer than this is refused
constexpr std::size_t kMaxClients = 64;
constexpr int kBacklog = 16;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

sockaddr_un make_addr(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) {
    throw std::system_error(ENAMETOOLONG, std::generic_category(),
                            "control socket path \"" + path + "\"");
  }
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

// A socket file left by a daemon that died is replaced; a live daemon's
// socket, or any file that is not a socket, is left alone and is an error.
void clear_stale_socket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw_errno("control socket " + path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw std::system_error(EEXIST, std::generic_category(),
                            "control socket " + path + " exists and is not a socket");
  }
  sys::UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) throw_errno("socket");
  const int rc = connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  probe.reset();
  if (rc == 0) {
    throw std::system_error(EADDRINUSE, std::generic_category(),
                            "control socket " + path + " is served by a running daemon");
  }
  if (err != ECONNREFUSED) {
    throw std::system_error(err, std::generic_category(), "probing control socket " + path);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("removing stale " + path);
}

}  // namespace

struct ControlServer::Impl {
  struct Client {
    sys::UniqueFd fd;
    std::string in;
    std::string out;
    bool closing = false;  // peer sent EOF or we refused it: close once `out` is sent
  };

  Impl(const std::string& p, ControlHandler& h, EventLoop& l) : path(p), handler(h), loop(l) {}
  ~Impl();

  void start();
  void on_accept();
  void on_client(int fd, std::uint32_t events);
  void process_lines(Client& c);
  bool flush(Client& c);  // false on a write error
  void update_watch(Client& c);
  void drop(int fd);

  std::string path;
  ControlHandler& handler;
  EventLoop& loop;
  sys::UniqueFd listen_fd;
  dev_t dev = 0;
  ino_t ino = 0;
  std::map<int, Client> clients;
};

void ControlServer::Impl::start() {
  const sockaddr_un addr = make_addr(path);
  clear_stale_socket(path, addr);
  listen_fd.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_fd.valid()) throw_errno("socket");
  // The socket file is created 0600 (only root talks to the daemon); the
  // umask closes the window between bind() and chmod().
  const mode_t old_mask = umask(0177);
  const int rc = bind(listen_fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  umask(old_mask);
  if (rc != 0) {
    errno = err;
    throw_errno("bind " + path);
  }
  struct stat st {};
  if (chmod(path.c_str(), 0600) != 0 || stat(path.c_str(), &st) != 0) throw_errno("chmod " + path);
  dev = st.st_dev;
  ino = st.st_ino;
  if (listen(listen_fd.get(), kBacklog) != 0) throw_errno("listen " + path);
  loop.add(listen_fd.get(), [this](std::uint32_t) { on_accept(); });
}

ControlServer::Impl::~Impl() {
  for (const auto& [fd, c] : clients)
    loop.remove(fd);
  clients.clear();  // closes them
  if (listen_fd.valid()) {
    loop.remove(listen_fd.get());
    listen_fd.reset();
    // Unlink only our own socket file, not one a successor created since.
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino) unlink(path.c_str());
  }
}

void ControlServer::Impl::on_accept() {
  for (;;) {
    sys::UniqueFd accepted(
        accept4(listen_fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!accepted.valid()) return;  // EAGAIN: all taken; other errors: the client went away
    const int fd = accepted.get();
    Client& c = clients[fd];
    c.fd = std::move(accepted);
    if (clients.size() > kMaxClients) {
      c.out = error_reply("too many control connections") + "\n";
      c.closing = true;
    }
    update_watch(c);
    if (c.closing) on_client(fd, EPOLLOUT);
  }
}

void ControlServer::Impl::update_watch(Client& c) {
  // While a reply is pending, stop reading: a client that does not read
  // its replies cannot make the daemon buffer without bound.
  const int fd = c.fd.get();
  loop.add(
      fd, [this, fd](std::uint32_t ev) { on_client(fd, ev); }, c.out.empty() ? EPOLLIN : EPOLLOUT);
}

bool ControlServer::Impl::flush(Client& c) {
  while (!c.out.empty()) {
    const ssize_t n = send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

void ControlServer::Impl::process_lines(Client& c) {
  std::size_t start = 0;
  for (;;) {
    const std::size_t nl = c.in.find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = c.in.substr(start, nl - start);
    start = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    c.out += handle_control_request(handler, line);
    c.out += '\n';
  }
  c.in.erase(0, start);
  if (c.closing && c.in.size() <= kMaxLine &&
      c.in.find_first_not_of(" \t\r") != std::string::npos) {
    // EOF after a last request without its newline: answer it anyway.
    c.out += handle_control_request(handler, c.in);
    c.out += '\n';
    c.in.clear();
  }
  if (c.in.size() > kMaxLine) {
    c.out += error_reply("request longer than " + std::to_string(kMaxLine) + " bytes") + "\n";
    c.in.clear();
    c.closing = true;
  }
}

void ControlServer::Impl::on_client(int fd, std::uint32_t events) {
  auto it = clients.find(fd);
  if (it == clients.end()) return;
  Client& c = it->second;
  if (events & EPOLLERR) return drop(fd);

  if ((events & (EPOLLIN | EPOLLHUP)) && !c.closing) {
    char buf[16384];
    for (;;) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
        if (c.in.size() > kMaxLine) break;  // process_lines refuses it
        continue;
      }
      if (n == 0) {
        c.closing = true;  // EOF: answer what was asked, then close
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return drop(fd);
    }
    process_lines(c);
  }
  if (!flush(c)) return drop(fd);
  if (c.out.empty() && c.closing) return drop(fd);
  update_watch(c);
}

void ControlServer::Impl::drop(int fd) {
  loop.remove(fd);
  clients.erase(fd);  // closes it
}

ControlServer::ControlServer(const std::string& path, ControlHandler& handler, EventLoop& loop)
    : impl_(std::make_unique<Impl>(path, handler, loop)) {
  impl_->start();
}

ControlServer::~ControlServer() = default;

}  // namespace stt::daemon
