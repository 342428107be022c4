/* XYZ tile pyramids from C: two frames with options, progress on the calling thread, cancel
 * from the callback (status CANCELLED, no output folder), bad options and NULL arguments.
 * Usage: host_tiles FRAME1 FRAME2 OUTDIR */
#include <rastrum.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct counter {
    int calls;
    int cancel_after; /* 0: never */
    double last;
};

static int progress(double complete, const char *message, void *user_data) {
    struct counter *c = (struct counter *)user_data;
    c->calls++;
    if (complete < c->last || message == NULL) {
        fprintf(stderr, "progress went back (%f after %f) or had no message\n", complete, c->last);
        c->last = 2.0;
    } else {
        c->last = complete;
    }
    return c->cancel_after == 0 || c->calls < c->cancel_after;
}

static int fail(const char *what, int32_t status) {
    fprintf(stderr, "%s: status %d (%s): %s\n", what, status, rastrum_status_str(status),
            rastrum_last_error_message());
    return 1;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s FRAME1 FRAME2 OUTDIR\n", argv[0]);
        return 2;
    }
    const char *inputs[2] = {argv[1], argv[2]};
    const char *outdir = argv[3];
    char path[4096];

    rastrum_tiles_options *opts = NULL;
    int32_t s = rastrum_tiles_options_new(&opts);
    if (s != RASTRUM_OK) return fail("rastrum_tiles_options_new", s);
    const char *settings[][2] = {{"zoom", "10-11"}, {"labels", "red,green"}, {"ramp", "magma"}, {"overwrite", "true"}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        s = rastrum_tiles_options_set(opts, settings[i][0], settings[i][1]);
        if (s != RASTRUM_OK) return fail(settings[i][0], s);
    }
    s = rastrum_tiles_options_set(opts, "zoom", "12-3");
    if (s != RASTRUM_INVALID_ARGUMENT || strstr(rastrum_last_error_message(), "zoom") == NULL)
        return fail("a reversed zoom range is refused", s);
    s = rastrum_tiles_options_set(opts, "colour", "red");
    if (s != RASTRUM_INVALID_ARGUMENT || strstr(rastrum_last_error_message(), "colour") == NULL)
        return fail("an unknown key is refused", s);

    /* Cancelled from the callback: CANCELLED, and no output folder appears. */
    struct counter c = {0, 3, 0.0};
    char cancelled[4096];
    snprintf(cancelled, sizeof cancelled, "%s_cancelled", outdir);
    char *json = NULL;
    s = rastrum_tiles(inputs, 2, cancelled, opts, progress, &c, &json);
    if (s != RASTRUM_CANCELLED || json != NULL) return fail("cancel from the callback", s);
    if (exists(cancelled)) {
        fprintf(stderr, "%s exists after a cancel\n", cancelled);
        return 1;
    }

    struct counter done = {0, 0, 0.0};
    s = rastrum_tiles(inputs, 2, outdir, opts, progress, &done, &json);
    if (s != RASTRUM_OK) return fail("rastrum_tiles", s);
    if (done.calls < 3 || done.last != 1.0) {
        fprintf(stderr, "progress: %d calls, last %f\n", done.calls, done.last);
        return 1;
    }
    if (json == NULL || strstr(json, "\"tiles_written\"") == NULL || strstr(json, "\"magma\"") == NULL) {
        fprintf(stderr, "summary JSON: %s\n", json ? json : "(null)");
        return 1;
    }
    rastrum_string_free(json);
    json = NULL;
    const char *files[] = {"index.html", "tiles.json", "animation.gif", "red/10", "green/11"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", outdir, files[i]);
        if (!exists(path)) {
            fprintf(stderr, "%s is missing\n", path);
            return 1;
        }
    }

    /* NULL arguments are statuses, not crashes. */
    if (rastrum_tiles(NULL, 2, outdir, opts, NULL, NULL, &json) != RASTRUM_INVALID_ARGUMENT) return 1;
    if (rastrum_tiles(inputs, 0, outdir, opts, NULL, NULL, &json) != RASTRUM_INVALID_ARGUMENT) return 1;
    if (rastrum_tiles(inputs, 2, NULL, opts, NULL, NULL, &json) != RASTRUM_INVALID_ARGUMENT) return 1;
    /* out_json is required, as in every *_json call (ABI 2). */
    if (rastrum_tiles(inputs, 2, outdir, opts, NULL, NULL, NULL) != RASTRUM_INVALID_ARGUMENT) return 1;
    if (json != NULL) return 1;
    if (rastrum_tiles_options_set(NULL, "zoom", "3") != RASTRUM_INVALID_ARGUMENT) return 1;
    rastrum_tiles_options_free(opts);
    rastrum_tiles_options_free(NULL);
    printf("tiles from C: %d progress calls\n", done.calls);
    return 0;
}
