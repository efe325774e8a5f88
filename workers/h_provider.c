/* h_provider.c - handlers of psop.commands.provider (being built: issue 4+). */
#include "handlers.h"

const struct handler handlers_provider[] = {
    {NULL, NULL},
};
