/*
 * core/invariant.h - checks of invariants the code keeps only by convention.
 *
 * PSOP_ASSERT(cond) is for what no input can make false, only a bug: a
 * table the code keeps under 3/4 full, a buffer sized for what is written
 * into it, an argument vector filled to its count. It stays in release
 * builds (NDEBUG does not remove it), so use it where the check is cheap
 * (a comparison, not a walk). When cond is false it writes one JSON line to
 * stderr, {"level":"fatal","msg":"invariant violated","check":...,"at":
 * "file:line","func":...}, and aborts: carrying on would corrupt memory or
 * data more quietly. Bad input never reaches here: it gets an error.
 */
#ifndef PSOP_INVARIANT_H
#define PSOP_INVARIANT_H

#define PSOP_ASSERT(cond)                                                                          \
    (__builtin_expect(!!(cond), 1) ? (void)0 : invariant_fail(#cond, __FILE__, __LINE__, __func__))

void invariant_fail(const char *check, const char *file, int line, const char *func)
    __attribute__((noreturn, cold));

#endif
