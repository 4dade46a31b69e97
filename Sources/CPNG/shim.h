#ifndef SALIENCY_CPNG_SHIM_H
#define SALIENCY_CPNG_SHIM_H
#include <png.h>
// libpng's composite format macros do not import into Swift; re-export them as constants.
static const png_uint_32 SAL_PNG_FORMAT_GRAY = PNG_FORMAT_GRAY;
static const png_uint_32 SAL_PNG_FORMAT_GA = PNG_FORMAT_GA;
static const png_uint_32 SAL_PNG_FORMAT_RGB = PNG_FORMAT_RGB;
static const png_uint_32 SAL_PNG_FORMAT_RGBA = PNG_FORMAT_RGBA;
static const png_uint_32 SAL_PNG_FORMAT_LINEAR_Y = PNG_FORMAT_LINEAR_Y;
static const png_uint_32 SAL_PNG_FORMAT_LINEAR_RGB = PNG_FORMAT_LINEAR_RGB;
static const png_uint_32 SAL_PNG_FORMAT_FLAG_LINEAR = PNG_FORMAT_FLAG_LINEAR;
static const png_uint_32 SAL_PNG_FORMAT_FLAG_COLOR = PNG_FORMAT_FLAG_COLOR;
static const png_uint_32 SAL_PNG_FORMAT_FLAG_ALPHA = PNG_FORMAT_FLAG_ALPHA;
static const int SAL_PNG_IMAGE_VERSION = PNG_IMAGE_VERSION;
static inline size_t sal_png_image_size(const png_image *image) { return PNG_IMAGE_SIZE(*image); }
static inline int sal_png_image_failed(const png_image *image) { return PNG_IMAGE_FAILED(*image); }
#endif
