/* Naming error codes: tide's own first, then libuv's (which also covers the
 * system's errno values). */
#include "tide_int.h"

const char *tide_strerror(int err) {
  switch (err) {
#define TIDE__ERR_STR(name, val, msg)                                          \
  case TIDE_##name:                                                            \
    return msg;
    TIDE_ERRNO_MAP(TIDE__ERR_STR)
#undef TIDE__ERR_STR
  default:
    return uv_strerror(err);
  }
}

const char *tide_err_name(int err) {
  switch (err) {
#define TIDE__ERR_NAME(name, val, msg)                                         \
  case TIDE_##name:                                                            \
    return #name;
    TIDE_ERRNO_MAP(TIDE__ERR_NAME)
#undef TIDE__ERR_NAME
  default:
    return uv_err_name(err);
  }
}

const char *tide_version(void) {
  return TIDE_VERSION_STRING;
}
