/*
 * versions.h - the versions of the wire formats this build speaks, where the
 * configuration (core) checks its settings against them without reaching up
 * into the wire layer. What the versions mean: wire/envelope.h.
 */
#ifndef PSOP_VERSIONS_H
#define PSOP_VERSIONS_H

#define ENVELOPE_VERSION_MIN 1
#define ENVELOPE_VERSION_CURRENT 5

#endif
