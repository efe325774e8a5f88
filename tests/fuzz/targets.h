/*
 * targets.h - the schemas the fuzz corpus is validated against: by the fuzz
 * target (parse_validate.c) and by the cross-check's replay of the corpus
 * (replay.c, tests/schema_crosscheck.py), so both cover the same ones.
 */
#ifndef PSOP_FUZZ_TARGETS_H
#define PSOP_FUZZ_TARGETS_H

static const char *const fuzz_targets[] = {
    "envelope",
    "commands/voucher.grant",
    "commands/service_event.record",
    "commands/service_event.update",
    "commands/service_type.upsert",
    "commands/organiser.upsert",
    "commands/provider.decide",
    "commands/provider.register",
    "commands/service_event.auto_approve",
    "commands/settlement.run",
};
#define N_FUZZ_TARGETS (sizeof fuzz_targets / sizeof fuzz_targets[0])

#endif
