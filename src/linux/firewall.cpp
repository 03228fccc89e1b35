#include "linux/firewall.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <utility>

#include "linux/fd.hpp"

extern char** environ;

namespace stt::sys {
namespace {

// SIGPIPE blocked on the calling thread while it lives. A write to a pipe
// whose reader has gone (nft exits early on a bad script) then fails with
// EPIPE instead of ending the process, whatever SIGPIPE's disposition. A
// SIGPIPE raised meanwhile is taken before the old mask comes back; one
// that was already pending is left alone.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    const int saved = errno;
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{};
      while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved;
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

// false on a write error (EPIPE when the reader has gone).
bool write_all(int fd, const std::string& s) {
  const SigpipeBlock no_sigpipe;
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

void trim_newlines(std::string& s) {
  while (!s.empty() && s.back() == '\n')
    s.pop_back();
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe(const char* program) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) {
    throw std::runtime_error(std::string(program) + ": pipe: " + std::strerror(errno));
  }
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace

int run_with_input(const char* const* argv, const std::string& input, std::string* output) {
  Pipe in = make_pipe(argv[0]);
  Pipe out = make_pipe(argv[0]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.read.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out.write.get(), 2);
  posix_spawn_file_actions_adddup2(&fa, out.write.get(), 1);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    throw std::runtime_error("cannot run " + std::string(argv[0]) + ": " + std::strerror(rc));
  }
  in.read.reset();
  out.write.reset();
  write_all(in.write.get(), input);  // on EPIPE, the program's output says why
  in.write.reset();
  std::string text;
  char buf[512];
  for (;;) {
    const ssize_t n = read(out.read.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (output) *output = std::move(text);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_nft(const std::string& script, std::string* err) {
  static constexpr const char* kArgv[] = {"nft", "-f", "-", nullptr};
  return run_with_input(kArgv, script, err);
}

std::string FirewallRule::table_name(std::uint16_t port) {
  return "sttd_" + std::to_string(port);
}

bool FirewallRule::remove_stale(std::uint16_t port) {
  std::string err;
  return run_nft("delete table inet " + table_name(port) + "\n", &err) == 0;
}

FirewallRule::FirewallRule(const wire::IpAddr& local, std::uint16_t port)
    : table_(table_name(port)) {
  const std::string fam = local.is_v6() ? "ip6" : "ip";
  const std::string p = std::to_string(port);
  // "table X" then "delete table X" makes the replacement atomic whether or
  // not a stale table exists.
  ruleset_ = "table inet " + table_ + "\n" + "delete table inet " + table_ + "\n" + "table inet " +
             table_ + " {\n" +
             "  chain stt_in {\n"
             "    type filter hook prerouting priority -400; policy accept;\n"
             "    " +
             fam + " daddr " + local.to_string() + " tcp dport " + p +
             " counter drop comment \"STT segments are for sttd's packet socket only\"\n"
             "  }\n"
             "  chain stt_out {\n"
             "    type filter hook output priority 0; policy accept;\n"
             "    tcp sport " +
             p +
             " counter drop comment \"the host never answers STT\"\n"
             "  }\n"
             "}\n";
  std::string err;
  const int rc = run_nft(ruleset_, &err);
  if (rc != 0) {
    trim_newlines(err);
    throw std::runtime_error("installing nftables table inet " + table_ + " failed (nft exit " +
                             std::to_string(rc) + "): " + err);
  }
}

FirewallRule::~FirewallRule() {
  try {
    std::string err;
    const int rc = run_nft("delete table inet " + table_ + "\n", &err);
    if (rc != 0) {
      trim_newlines(err);
      spdlog::warn("removing nftables table inet {} failed (nft exit {}): {}", table_, rc, err);
    }
  } catch (const std::exception& e) {
    spdlog::warn("removing nftables table inet {} failed: {}", table_, e.what());
  }
}

}  // namespace stt::sys
