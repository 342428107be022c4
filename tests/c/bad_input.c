/*
 * Bad input through the C API (files made here): each call fails with the status and a message
 * that names the problem, writes no output, and leaves the input as it was; handles freed in
 * any order. Runs plain, under ASan and under Valgrind.
 *
 *   bad_input MODEL INPUT OUTDIR     (a one-channel model and a one-band raster it runs on)
 */
#include <rastrum.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures = 0, cases = 0;

static void expect(const char *what, int32_t got, int32_t status, const char *needle, const char *output) {
    const char *msg = rastrum_last_error_message();
    cases++;
    if (got != status || strstr(msg, needle) == NULL) {
        fprintf(stderr, "FAIL %s: status %d (expected %d), message '%s' (expected to mention '%s')\n", what, (int)got,
                (int)status, msg, needle);
        failures++;
    }
    if (output && access(output, F_OK) == 0) {
        fprintf(stderr, "FAIL %s: %s was left behind\n", what, output);
        failures++;
    }
}

static int never_called(const rastrum_rows *rows, void *user_data) {
    (void)rows;
    (void)user_data;
    fprintf(stderr, "FAIL: rows of a refused stitcher\n");
    failures++;
    return 0;
}

static void write_file(const char *path, const char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL INPUT OUTDIR\n", argv[0]);
        return 2;
    }
    const char *model_path = argv[1], *input = argv[2], *dir = argv[3];
    char out[4096], corrupt[4096], text[4096], not_onnx[4096];
    snprintf(out, sizeof out, "%s/bad_input_out.tif", dir);
    snprintf(corrupt, sizeof corrupt, "%s/bad_input_corrupt.tif", dir);
    snprintf(text, sizeof text, "%s/bad_input_text.tif", dir);
    snprintf(not_onnx, sizeof not_onnx, "%s/bad_input_model.onnx", dir);
    remove(out);
    char junk[2048] = "II*";
    for (size_t i = 4; i < sizeof junk; i++) junk[i] = (char)(i * 31);
    write_file(corrupt, junk, sizeof junk);
    write_file(text, "not a raster\n", 13);
    write_file(not_onnx, "not a model", 11);
    long input_size = file_size(input);

    rastrum_model *m = NULL, *bad = NULL;
    rastrum_options *o = NULL;
    rastrum_cancel *c = NULL;
    rastrum_result *r = NULL;
    if (rastrum_model_open(model_path, NULL, 1, 0, &m) != RASTRUM_OK || rastrum_options_new(&o) != RASTRUM_OK ||
        rastrum_cancel_new(&c) != RASTRUM_OK || rastrum_options_set_cancel(o, c) != RASTRUM_OK) {
        fprintf(stderr, "setup failed: %s\n", rastrum_last_error_message());
        return 1;
    }

    expect("model not ONNX", rastrum_model_open(not_onnx, NULL, 1, 0, &bad), RASTRUM_MODEL, "not a valid ONNX", NULL);
    expect("model missing", rastrum_model_open("/nonexistent/m.onnx", NULL, 1, 0, &bad), RASTRUM_IO,
           "/nonexistent/m.onnx", NULL);
    expect("unknown device", rastrum_model_open(model_path, "abacus", 1, 0, &bad), RASTRUM_INVALID_ARGUMENT, "abacus",
           NULL);
    expect("input missing", rastrum_run(m, "/nonexistent/in.tif", out, o, NULL, NULL, &r), RASTRUM_IO, "does not exist",
           out);
    expect("corrupt GeoTIFF", rastrum_run(m, corrupt, out, o, NULL, NULL, &r), RASTRUM_RASTER, "bad_input_corrupt.tif",
           out);
    expect("text file", rastrum_run(m, text, out, o, NULL, NULL, &r), RASTRUM_RASTER, "bad_input_text.tif", out);
    expect("output is a folder", rastrum_run(m, input, dir, o, NULL, NULL, &r), RASTRUM_IO, "is a directory", NULL);
    expect("output is the input", rastrum_run(m, input, input, o, NULL, NULL, &r), RASTRUM_IO, "is the input", NULL);
    expect("unknown option", rastrum_options_set(o, "tile-sise", "64"), RASTRUM_INVALID_ARGUMENT, "tile-sise", NULL);
    expect("option of the wrong type", rastrum_options_set(o, "tile-size", "big"), RASTRUM_INVALID_ARGUMENT, "big",
           NULL);
    expect("band out of range", rastrum_options_set(o, "bands", "9"), RASTRUM_OK, "", NULL);
    expect("band out of range (run)", rastrum_run(m, input, out, o, NULL, NULL, &r), RASTRUM_RASTER, "band 9", out);
    rastrum_options_set(o, "bands", "1");
    expect("scale 0", rastrum_options_set(o, "scale", "0"), RASTRUM_OK, "", NULL);
    expect("scale 0 (run)", rastrum_run(m, input, out, o, NULL, NULL, &r), RASTRUM_INVALID_ARGUMENT, "scale 0", out);
    rastrum_options_set(o, "scale", "1");
    expect("tile size 0", rastrum_options_set(o, "tile-size", "0"), RASTRUM_OK, "", NULL);
    expect("tile size 0 (run)", rastrum_run(m, input, out, o, NULL, NULL, &r), RASTRUM_INVALID_ARGUMENT, "tile size",
           out);
    rastrum_options_set(o, "tile-size", "64");
    /* Sizes past any machine's memory are statuses, not aborts (issue 21). */
    rastrum_plan *huge = NULL;
    rastrum_stitcher *st = NULL;
    rastrum_options *tiling = NULL;
    if (rastrum_options_new(&tiling) != RASTRUM_OK || rastrum_options_set(tiling, "tile-size", "4096") != RASTRUM_OK ||
        rastrum_options_set(tiling, "task", "regression") != RASTRUM_OK) {
        fprintf(stderr, "setup failed: %s\n", rastrum_last_error_message());
        return 1;
    }
    expect("plan of 1e12 x 1e12 pixels", rastrum_plan_new((size_t)1e12, (size_t)1e12, 1, NULL, tiling, &huge),
           RASTRUM_INVALID_ARGUMENT, "past GDAL's limit", NULL);
    if (rastrum_plan_new(2147483647u, 2147483647u, 1, NULL, tiling, &huge) != RASTRUM_OK) {
        fprintf(stderr, "FAIL: a 2^31-1 square plan: %s\n", rastrum_last_error_message());
        failures++;
    }
    expect("rows stitcher of a 2^31-1 square plan", rastrum_stitcher_new_rows(huge, never_called, NULL, &st),
           RASTRUM_INVALID_ARGUMENT, "stitching 2147483647 output pixels wide", NULL);
    expect("batches past memory", rastrum_options_set(o, "batch", "4096"), RASTRUM_OK, "", NULL);
    expect("batches past memory (tile size)", rastrum_options_set(o, "tile-size", "4096"), RASTRUM_OK, "", NULL);
    expect("batches past memory (run)", rastrum_run(m, input, out, o, NULL, NULL, &r), RASTRUM_INVALID_ARGUMENT,
           "lower 'batch' or 'tile-size'", out);
    rastrum_options_free(o);
    if (st || rastrum_options_new(&o) != RASTRUM_OK || rastrum_options_set_cancel(o, c) != RASTRUM_OK) {
        fprintf(stderr, "FAIL: a refused stitcher was written, or the options could not be remade\n");
        failures++;
    }
    rastrum_plan_free(huge);
    rastrum_options_free(tiling);

    rastrum_cancel_set(c, 1);
    expect("cancelled before the start", rastrum_run(m, input, out, o, NULL, NULL, &r), RASTRUM_CANCELLED, "cancel",
           out);
    rastrum_cancel_set(c, 0);
    if (bad || r) {
        fprintf(stderr, "FAIL: a failed call wrote a handle\n");
        failures++;
    }
    if (file_size(input) != input_size) {
        fprintf(stderr, "FAIL: the input changed\n");
        failures++;
    }

    /* Handles freed in an order opposite to their dependencies: a result outlives its model,
       options outlive their cancel token. */
    if (rastrum_run(m, input, out, o, NULL, NULL, &r) != RASTRUM_OK) {
        fprintf(stderr, "FAIL: the good run: %s\n", rastrum_last_error_message());
        failures++;
    }
    rastrum_model_free(m);
    rastrum_cancel_free(c);
    size_t total = 0, run = 0, skipped = 0;
    if (rastrum_result_tiles(r, &total, &run, &skipped) != RASTRUM_OK || total == 0) {
        fprintf(stderr, "FAIL: the result after its model was freed\n");
        failures++;
    }
    rastrum_result_free(r);
    rastrum_options_free(o);
    remove(out);
    remove(corrupt);
    remove(text);
    remove(not_onnx);
    printf("bad_input: %d cases, %s\n", cases, failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
