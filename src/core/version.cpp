#include "core/version.hpp"

namespace stt::core {

const char* version() { return "0.1.0"; }

}  // namespace stt::core
