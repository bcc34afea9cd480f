/**
 * @file tests/sdk/abi_c11_check.c
 * @brief abi.h must compile as strict C11 (-std=c11 -pedantic -Werror) and have the same
 * layout in C as the C++ test locks.
 */
#include <stddef.h>
#include <switchyard/abi.h>

#if defined(__x86_64__) && defined(__LP64__)
#define SY_SIZE(type, bytes) _Static_assert(sizeof(type) == (bytes), "sizeof " #type);
#define SY_OFFSET(type, field, bytes) \
  _Static_assert(offsetof(type, field) == (bytes), "offsetof " #type "." #field);
#include "abi_layout.inc"
#undef SY_SIZE
#undef SY_OFFSET
#endif

_Static_assert(sizeof(sy_status) == 4, "sy_status is int32_t");
_Static_assert(SY_ABI_MAJOR == 1, "ABI major");

/* A C plugin's entry point must convert to the documented function pointer type. */
static const sy_plugin_info* entry(uint32_t major, uint32_t minor) {
  (void)major;
  (void)minor;
  return NULL;
}

int main(void) {
  sy_plugin_entry_fn fn = entry;
  sy_str s = {NULL, 0};
  return fn(SY_ABI_MAJOR, SY_ABI_MINOR) == NULL && s.len == 0 ? 0 : 1;
}
