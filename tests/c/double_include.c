/* The header may be included twice (include guard) and needs nothing included before it. */
#include <rastrum.h>
#include <rastrum.h>

int main(void) {
    return (RASTRUM_OK == 0 && rastrum_abi_version() == RASTRUM_ABI_VERSION) ? 0 : 1;
}
