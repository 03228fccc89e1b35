// Replays fuzz inputs without libFuzzer: every argument is a file or a
// directory (whose regular files are taken in name order), and each file is
// passed once to LLVMFuzzerTestOneInput. This is how the plain g++ build
// runs the committed corpus as a regression test. An empty corpus is an
// error, so the test cannot pass by replaying nothing.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool read_file(const std::filesystem::path& p, std::vector<std::uint8_t>* out) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(arg, ec)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      if (ec) {
        std::fprintf(stderr, "%s: cannot list: %s\n", argv[i], ec.message().c_str());
        return 2;
      }
    } else if (std::filesystem::is_regular_file(arg, ec)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "%s: no such file or directory\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no inputs found\n");
    return 2;
  }
  std::vector<std::uint8_t> buf;
  std::size_t bytes = 0;
  for (const auto& p : files) {
    if (!read_file(p, &buf)) {
      std::fprintf(stderr, "%s: cannot read\n", p.c_str());
      return 2;
    }
    // Named before running, so a crash can be traced to its input.
    std::fprintf(stderr, "replay %s (%zu bytes)\n", p.c_str(), buf.size());
    // A copy with exact size, so the sanitizers see reads past the end.
    std::vector<std::uint8_t> exact(buf.begin(), buf.end());
    LLVMFuzzerTestOneInput(exact.data(), exact.size());
    bytes += buf.size();
  }
  std::printf("replayed %zu inputs (%zu bytes)\n", files.size(), bytes);
  return 0;
}
