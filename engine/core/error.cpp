#include "core/error.h"

namespace dl {

void internal_error(const char * file, int line, const std::string & what) {
    throw Error(ExitCode::internal,
                fmt::format("internal error at {}:{}: {} (this is a bug in dlctl; please report it)", file,
                            line, what));
}

}  // namespace dl
