// Runs the kernel fast path's start-up self-test (src/linux/bpf_selftest.hpp) on its own and
// prints each check; exit 0 only if every check passed. `--expect-fail CHECK` inverts that for
// the test hook: it sets STT_BPF_SELFTEST_FAIL=CHECK and passes only if the self-test then
// fails at CHECK, proving a kernel that stops doing it is caught.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "linux/bpf_selftest.hpp"

int main(int argc, char** argv) {
  std::string expect_fail;
  if (argc == 3 && std::strcmp(argv[1], "--expect-fail") == 0) {
    expect_fail = argv[2];
    setenv("STT_BPF_SELFTEST_FAIL", argv[2], 1);
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: %s [--expect-fail CHECK]\n", argv[0]);
    return 2;
  }
  const auto r = stt::sys::run_bpf_selftest();
  for (const auto& p : r.passed)
    std::printf("ok %s\n", p.c_str());
  if (!r.ok) std::printf("FAILED: %s\n", r.reason.c_str());
  if (expect_fail.empty()) return r.ok ? 0 : 1;
  const bool caught = !r.ok && r.reason.rfind(expect_fail + ":", 0) == 0;
  std::printf("%s\n", caught ? "the hook made the expected check fail"
                             : "the hook did not make the expected check fail");
  return caught ? 0 : 1;
}
