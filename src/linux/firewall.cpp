#include "linux/firewall.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "linux/fd.hpp"

extern char** environ;

namespace stt::sys {
namespace {

bool write_all(int fd, const std::string& s) {
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

}  // namespace

int run_nft(const std::string& script, std::string* err) {
  int in[2], errp[2];
  if (pipe2(in, O_CLOEXEC) < 0)
    throw std::runtime_error("nft: pipe: " + std::string(strerror(errno)));
  if (pipe2(errp, O_CLOEXEC) < 0) {
    close(in[0]);
    close(in[1]);
    throw std::runtime_error("nft: pipe: " + std::string(strerror(errno)));
  }
  UniqueFd in_r(in[0]), in_w(in[1]), err_r(errp[0]), err_w(errp[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 1);
  const char* argv[] = {"nft", "-f", "-", nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "nft", &fa, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot run nft: " + std::string(strerror(rc)));
  in_r.reset();
  err_w.reset();
  write_all(in_w.get(), script);
  in_w.reset();
  std::string out;
  char buf[512];
  for (;;) {
    const ssize_t n = read(err_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (err) *err = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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
    while (!err.empty() && err.back() == '\n')
      err.pop_back();
    throw std::runtime_error("installing nftables table inet " + table_ + " failed (nft exit " +
                             std::to_string(rc) + "): " + err);
  }
}

FirewallRule::~FirewallRule() {
  std::string err;
  run_nft("delete table inet " + table_ + "\n", &err);
}

}  // namespace stt::sys
