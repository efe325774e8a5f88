/* h_order.c - handlers of psop.commands.order (being built: issue 4+). */
#include "handlers.h"

const struct handler handlers_order[] = {
    {NULL, NULL},
};
