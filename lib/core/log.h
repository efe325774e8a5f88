/*
 * core/log.h - JSON lines on stderr, one per event.
 *
 * Every line has "ts", "level", "svc" (set once with log_init) and "msg";
 * the macros add context fields given as a NULL-terminated list of
 * key/value string pairs. Thread-safe: each line is written with a single
 * write(2) call. Lines below the configured level are dropped.
 *
 * Every line is valid JSON (RFC 8259, UTF-8) whatever the input: control
 * characters (C0, DEL, C1) are \u-escaped, bytes that are not well-formed
 * UTF-8 become U+FFFD, a value longer than LOG_VALUE_MAX bytes of JSON text
 * is cut at a character boundary and ends in "\u2026" (the ellipsis), and a
 * line never exceeds LOG_LINE_MAX bytes: fields that no longer fit are left
 * out. A line with anything cut or left out ends with "log_truncated":true.
 *
 *   LOG_INFO("applied", "command_id", id, "topic", topic, NULL);
 */
#ifndef PSOP_LOG_H
#define PSOP_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* A whole line, newline included, and one value's JSON text. */
#define LOG_LINE_MAX 4096
#define LOG_VALUE_MAX 1024

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* svc is borrowed and must outlive the process (a literal). */
void log_init(const char *svc, enum log_level min_level);
/* Parses "debug|info|warn|error"; unknown names give LOG_LVL_INFO. */
enum log_level log_level_parse(const char *name);
void log_set_level(enum log_level min_level);

/* Writes one line: msg plus key/value string pairs, terminated by NULL.
 * A NULL value is written as JSON null. */
void log_line(enum log_level lvl, const char *msg, ...) __attribute__((sentinel));

/* The line log_line would write, into out (LOG_LINE_MAX bytes, not NUL-
 * terminated); returns its length, newline included. ap: the pairs. */
size_t log_format(char *out, enum log_level lvl, const char *msg, va_list ap);

#define LOG_DEBUG(...) log_line(LOG_LVL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) log_line(LOG_LVL_INFO, __VA_ARGS__)
#define LOG_WARN(...) log_line(LOG_LVL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) log_line(LOG_LVL_ERROR, __VA_ARGS__)

#endif
