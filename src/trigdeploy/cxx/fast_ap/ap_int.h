// trigdeploy fast ap_int: ap_int/ap_uint live in ap_fixed.h (see there)
#ifndef TD_FAST_AP_INT_H
#define TD_FAST_AP_INT_H
#include "ap_fixed.h"
#endif
