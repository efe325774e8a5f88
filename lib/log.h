/*
 * log.h - JSON lines on stderr, one per event.
 *
 * Every line has "ts", "level", "svc" (set once with log_init) and "msg";
 * the macros add context fields given as a NULL-terminated list of
 * key/value string pairs. Thread-safe: each line is written with a single
 * write(2) call. Lines below the configured level are dropped.
 *
 *   LOG_INFO("applied", "command_id", id, "topic", topic, NULL);
 */
#ifndef PSOP_LOG_H
#define PSOP_LOG_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* svc is borrowed and must outlive the process (a literal). */
void log_init(const char *svc, enum log_level min_level);
/* Parses "debug|info|warn|error"; unknown names give LOG_LVL_INFO. */
enum log_level log_level_parse(const char *name);
void log_set_level(enum log_level min_level);

/* Writes one line: msg plus key/value string pairs, terminated by NULL.
 * A NULL value is written as JSON null. */
void log_line(enum log_level lvl, const char *msg, ...) __attribute__((sentinel));

#define LOG_DEBUG(...) log_line(LOG_LVL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) log_line(LOG_LVL_INFO, __VA_ARGS__)
#define LOG_WARN(...) log_line(LOG_LVL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) log_line(LOG_LVL_ERROR, __VA_ARGS__)

#endif
