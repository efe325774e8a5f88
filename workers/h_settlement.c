/* h_settlement.c - handlers of psop.commands.settlement (being built: issue 4+). */
#include "handlers.h"

const struct handler handlers_settlement[] = {
    {NULL, NULL},
};
