#ifndef SALIENCY_CJPEG_SHIM_H
#define SALIENCY_CJPEG_SHIM_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

// libjpeg reports errors by longjmp out of its error handler, which Swift cannot catch, and
// jpeg_create_decompress is a macro; so the whole decode lives here, behind one C call.
struct sal_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void sal_jpeg_error_exit(j_common_ptr info) {
    struct sal_jpeg_error *e = (struct sal_jpeg_error *)info->err;
    (*info->err->format_message)(info, e->message);
    longjmp(e->jump, 1);
}

// Decodes a JPEG file to 8-bit gray (1 channel) or RGB (3 channels; CMYK and YCCK are
// converted by libjpeg where it can). On success returns 0 and a malloc'd buffer of
// height * width * channels bytes (free it); on failure returns -1 with a message.
static inline int sal_jpeg_decode(const char *path, unsigned char **pixels, int *width, int *height, int *channels,
                                  char *message, size_t message_size) {
    FILE *f = fopen(path, "rb");
    *pixels = NULL;
    if (!f) { snprintf(message, message_size, "cannot open file"); return -1; }
    struct jpeg_decompress_struct info;
    struct sal_jpeg_error err;
    unsigned char *volatile out = NULL;
    info.err = jpeg_std_error(&err.base);
    err.base.error_exit = sal_jpeg_error_exit;
    if (setjmp(err.jump)) {
        snprintf(message, message_size, "%s", err.message);
        jpeg_destroy_decompress(&info);
        fclose(f);
        free(out);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_stdio_src(&info, f);
    jpeg_read_header(&info, TRUE);
    info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&info);
    int c = info.output_components;
    size_t row = (size_t)info.output_width * (size_t)c;
    out = (unsigned char *)malloc(row * info.output_height);
    if (!out) { snprintf(message, message_size, "out of memory"); jpeg_destroy_decompress(&info); fclose(f); return -1; }
    while (info.output_scanline < info.output_height) {
        JSAMPROW r = out + row * info.output_scanline;
        jpeg_read_scanlines(&info, &r, 1);
    }
    jpeg_finish_decompress(&info);
    *width = (int)info.output_width; *height = (int)info.output_height; *channels = c;
    jpeg_destroy_decompress(&info);
    fclose(f);
    *pixels = out;
    return 0;
}
#endif
