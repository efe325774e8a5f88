/* h_voucher.c - handlers of psop.commands.voucher (being built: issue 4+). */
#include "handlers.h"

const struct handler handlers_voucher[] = {
    {NULL, NULL},
};
