/* Must not build: the domain layer reaching the store layer's header. */
#include "domain/event.h"
#include "store/pgc.h"

int main(void)
{
    return pgc_last_transient(NULL) ? 1 : 0;
}
