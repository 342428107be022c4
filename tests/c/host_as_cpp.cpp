// The C host compiled as C++: the header must be usable from C++ unchanged.
#include "host.c"
