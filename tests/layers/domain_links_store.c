/* Must not link: the domain layer calling into the store layer with the
 * declaration written by hand (no header to stop it). The domain library
 * links nothing but core, so the symbol is not there. */
#include "domain/event.h"

#include <stdbool.h>

struct pgc;
bool pgc_last_transient(const struct pgc *c);

int main(void)
{
    return pgc_last_transient((const struct pgc *)0) ? 1 : 0;
}
