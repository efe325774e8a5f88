/* Must not build: the core layer reaching the wire layer. */
#include "core/config.h"
#include "wire/envelope.h"

int main(void)
{
    return envelope_field_version("id");
}
