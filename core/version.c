/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_version(): the library's version, from CMake's project() version through the
 * generated axon/version.h (cmake/version.h.in). */
#include "axon/version.h"

const char *ax_version(void) { return AX_VERSION_STRING; }
