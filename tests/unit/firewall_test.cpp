// The firewall adapter's process plumbing (sys::run_with_input, which runs
// `nft -f -`) and its destructor's contract. The rule itself needs root and
// nft: tests/system covers it.

#include <gtest/gtest.h>

#include <csignal>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "linux/firewall.hpp"

namespace stt::sys {
namespace {

static_assert(std::is_nothrow_destructible_v<FirewallRule>);

TEST(RunWithInput, FeedsStdinAndCollectsOutputAndStatus) {
  const char* const argv[] = {"sh", "-c", "cat; echo oops >&2; exit 3", nullptr};
  std::string out;
  EXPECT_EQ(run_with_input(argv, "hello\n", &out), 3);
  EXPECT_EQ(out, "hello\noops\n");
}

TEST(RunWithInput, ReportsTheSignalThatEndedTheProgram) {
  const char* const argv[] = {"sh", "-c", "kill -TERM $$", nullptr};
  std::string out;
  EXPECT_EQ(run_with_input(argv, "", &out), 128 + SIGTERM);
}

// nft exits without reading the rest of a script it rejects. Far more input
// than a pipe holds makes the write meet a closed pipe for certain; with
// SIGPIPE at its default disposition that would kill this test process.
TEST(RunWithInput, AProgramThatStopsReadingCannotRaiseSigpipe) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGPIPE, &dfl, &old), 0);
  const char* const argv[] = {"true", nullptr};
  std::string out = "stale";
  const int rc = run_with_input(argv, std::string(4 << 20, 'x'), &out);
  sigset_t pending, mask;
  sigemptyset(&pending);
  sigpending(&pending);
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  sigaction(SIGPIPE, &old, nullptr);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "");
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0) << "a SIGPIPE was left pending";
  EXPECT_EQ(sigismember(&mask, SIGPIPE), 0) << "SIGPIPE was left blocked";
}

TEST(RunWithInput, AMissingProgramThrows) {
  const char* const argv[] = {"stt-no-such-program-b2", nullptr};
  std::string out;
  EXPECT_THROW(run_with_input(argv, "x", &out), std::runtime_error);
}

}  // namespace
}  // namespace stt::sys
