#ifndef SALIENCY_CZLIB_SHIM_H
#define SALIENCY_CZLIB_SHIM_H
#include <zlib.h>
#endif
