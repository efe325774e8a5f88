/* Positive control: a domain module may use core and its own layer. If this
 * probe stops building, the negative probes prove nothing. */
#include "core/money.h"
#include "domain/event.h"

#include <stdio.h>

int main(void)
{
    char err[64];
    printf("%d %lld\n", event_quantity_check(100, err, sizeof(err)),
           (long long)money_vat_of_gross(12400, 2400));
    return 0;
}
