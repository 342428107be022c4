/*
 * A C99 host of librastrum: runs a model over a raster with GDAL's own terminal progress as
 * the callback, checks the result, the error paths, cancellation at 50 % and a second run on
 * the same model handle. Also compiled as C++ (host_as_cpp.cpp), under AddressSanitizer and
 * under Valgrind.
 *
 *   host MODEL INPUT OUTPUT [OPTION=VALUE ...]     (options as in rastrum_options_set)
 *
 * With RASTRUM_INJECT_PANIC=rastrum_run set, it checks instead that a panic inside the library
 * comes back as RASTRUM_PANIC and that the process carries on.
 */
#include <rastrum.h>

#include <cpl_progress.h> /* GDALTermProgress */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond, what)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, what, \
                    rastrum_last_error_message());                                        \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Cancels once half the tiles are done; counts its calls. */
static int cancel_at_half(double complete, const char *message, void *user_data) {
    int *calls = (int *)user_data;
    (void)message;
    (*calls)++;
    return complete < 0.5;
}

/* Reads a whole file; returns its size, or -1. */
static long slurp(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    long n;
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = (char *)malloc((size_t)n + 1);
    if (!*out || fread(*out, 1, (size_t)n, f) != (size_t)n) n = -1;
    fclose(f);
    return n;
}

static int same_bytes(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    long nx = slurp(a, &x), ny = slurp(b, &y);
    int same = nx >= 0 && nx == ny && memcmp(x, y, (size_t)nx) == 0;
    free(x);
    free(y);
    return same;
}

static rastrum_options *options_from_args(int argc, char **argv) {
    rastrum_options *opts = NULL;
    int i;
    CHECK(rastrum_options_new(&opts) == RASTRUM_OK, "options_new");
    for (i = 4; i < argc; i++) {
        char key[128];
        const char *eq = strchr(argv[i], '=');
        size_t n = eq ? (size_t)(eq - argv[i]) : 0;
        if (!eq || n >= sizeof key) {
            fprintf(stderr, "bad option %s (expected KEY=VALUE)\n", argv[i]);
            exit(2);
        }
        memcpy(key, argv[i], n);
        key[n] = '\0';
        CHECK(rastrum_options_set(opts, key, eq + 1) == RASTRUM_OK, argv[i]);
    }
    return opts;
}

static int panic_mode(rastrum_model *model, const char *input, const char *output) {
    char *provider = NULL;
    int32_t status = rastrum_run(model, input, output, NULL, NULL, NULL, NULL);
    CHECK(status == RASTRUM_PANIC, "a panic inside rastrum_run comes back as RASTRUM_PANIC");
    CHECK(strstr(rastrum_last_error_message(), "panic") != NULL, "the message says panic");
    CHECK(!exists(output), "no output after a panic");
    /* The host keeps running and the library stays usable. */
    CHECK(rastrum_model_provider(model, &provider) == RASTRUM_OK, "library usable after a panic");
    rastrum_string_free(provider);
    rastrum_model_free(model);
    printf("panic mode: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    const char *model_path, *input, *output;
    rastrum_model *model = NULL;
    rastrum_options *opts;
    rastrum_result *result = NULL;
    size_t total = 0, run = 0, skipped = 0;
    char *json = NULL;
    char cancelled_path[4096], again_path[4096];
    int calls = 0;
    int32_t status;

    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL INPUT OUTPUT [OPTION=VALUE ...]\n", argv[0]);
        return 2;
    }
    model_path = argv[1];
    input = argv[2];
    output = argv[3];
    snprintf(cancelled_path, sizeof cancelled_path, "%s.cancelled.tif", output);
    snprintf(again_path, sizeof again_path, "%s.again.tif", output);
    remove(output);

    CHECK(rastrum_abi_version() == RASTRUM_ABI_VERSION, "ABI of the library equals the header's");
    CHECK(strcmp(rastrum_version_string(), RASTRUM_VERSION_STRING) == 0, "version string");

    status = rastrum_model_open(model_path, "cpu", 2, 0, &model);
    CHECK(status == RASTRUM_OK && model != NULL, "model_open");
    if (!model) return 1;
    if (getenv("RASTRUM_INJECT_PANIC")) return panic_mode(model, input, output);

    opts = options_from_args(argc, argv);

    /* 1. A real run, GDAL's terminal progress as the callback. */
    status = rastrum_run(model, input, output, opts, GDALTermProgress, NULL, &result);
    CHECK(status == RASTRUM_OK, "run");
    CHECK(exists(output), "output written");
    CHECK(rastrum_result_tiles(result, &total, &run, &skipped) == RASTRUM_OK, "result_tiles");
    CHECK(run > 0 && run + skipped == total, "tiles run + skipped == total");
    CHECK(rastrum_result_json(result, &json) == RASTRUM_OK && strstr(json, "\"provider\":\"cpu\""), "result JSON");
    printf("host: %llu tiles run, %llu skipped\n", (unsigned long long)run, (unsigned long long)skipped);
    rastrum_string_free(json);
    rastrum_result_free(result);

    /* 2. Errors name the problem. */
    status = rastrum_run(model, "/nonexistent/input.tif", cancelled_path, opts, NULL, NULL, NULL);
    CHECK(status == RASTRUM_IO, "missing input is RASTRUM_IO");
    CHECK(strstr(rastrum_last_error_message(), "/nonexistent/input.tif") != NULL, "message names the file");
    CHECK(rastrum_options_set(opts, "tile-sise", "256") == RASTRUM_INVALID_ARGUMENT, "unknown option");
    CHECK(strstr(rastrum_last_error_message(), "tile-sise") != NULL, "message names the key");
    CHECK(strcmp(rastrum_status_str(RASTRUM_CANCELLED), "cancelled") == 0, "status_str");

    /* 3. Cancel at 50 %: CANCELLED, nothing written, then the same handle runs again. */
    status = rastrum_run(model, input, cancelled_path, opts, cancel_at_half, &calls, NULL);
    CHECK(status == RASTRUM_CANCELLED, "cancel from the callback returns CANCELLED");
    CHECK(calls > 0, "the callback was called");
    CHECK(!exists(cancelled_path), "no output file after cancel");
    status = rastrum_run(model, input, again_path, opts, NULL, NULL, NULL);
    CHECK(status == RASTRUM_OK, "the same model runs again after a cancel");
    CHECK(same_bytes(output, again_path), "the second run gives the same bytes");
    remove(again_path);
    snprintf(again_path, sizeof again_path, "%s.again.tif.aux.xml", output);
    remove(again_path);

    rastrum_options_free(opts);
    rastrum_model_free(model);
    printf("host: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
