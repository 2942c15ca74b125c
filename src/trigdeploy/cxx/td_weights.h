// trigdeploy: where hls4ml's C simulation reads its weights. hls4ml's firmware loads every weight from
// WEIGHTS_DIR (nnet_helpers.h) on its first call outside synthesis; trigdeploy compiles the firmware with
// WEIGHTS_DIR=td_weights_dir(), so that one build serves every project whose code is the same (the same
// layers and types, other weights): the harness names the project's folder at run time, and a testbench
// run inside a copy of the project reads firmware/weights there.
#ifndef TD_WEIGHTS_H_
#define TD_WEIGHTS_H_
#include <string>
inline std::string& td_weights_storage() {
    static std::string dir = "firmware/weights";
    return dir;
}
inline const char* td_weights_dir() { return td_weights_storage().c_str(); }
#endif
