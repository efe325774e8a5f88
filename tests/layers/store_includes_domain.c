/* Must not build: the store layer reaching the domain layer. */
#include "domain/event.h"
#include "store/pgc.h"

int main(void)
{
    char err[64];
    return event_quantity_check(100, err, sizeof(err));
}
