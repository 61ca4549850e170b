/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_version() and the AX_VERSION_* macros: both come from CMake's project() version
 * (cmake/version.h.in), which the build passes here as AXON_PROJECT_VERSION. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "axon.h"

Test(version, library_matches_project_version) {
  cr_assert_not_null(ax_version());
  cr_assert_str_eq(ax_version(), AXON_PROJECT_VERSION);
  cr_assert_str_eq(AX_VERSION_STRING, AXON_PROJECT_VERSION);
}

Test(version, macros_match_string) {
  char s[64];
  snprintf(s, sizeof s, "%d.%d.%d", AX_VERSION_MAJOR, AX_VERSION_MINOR, AX_VERSION_PATCH);
  cr_assert_str_eq(s, ax_version());
  cr_assert(AX_VERSION_MAJOR >= 0 && AX_VERSION_MINOR >= 0 && AX_VERSION_PATCH >= 0);
}
