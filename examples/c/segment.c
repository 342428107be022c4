/*
 * Runs an ONNX model over a raster with librastrum and prints the run's summary.
 *
 *   rastrum_segment MODEL INPUT OUTPUT [OPTION=VALUE ...]
 *   e.g. rastrum_segment model.onnx scene.tif classes.tif tile-size=256 overlap=32 bands=4,3,2
 *
 * Options are the long names of `rastrum run`'s flags. Build: see CMakeLists.txt, or
 *   cc segment.c $(pkg-config --cflags --libs rastrum gdal)
 */
#include <rastrum.h>

#include <cpl_progress.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, int32_t status) {
    fprintf(stderr, "%s: %s: %s\n", what, rastrum_status_str(status), rastrum_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    rastrum_model *model = NULL;
    rastrum_options *options = NULL;
    rastrum_result *result = NULL;
    char *summary = NULL;
    int32_t status;
    int i, rc = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL INPUT OUTPUT [OPTION=VALUE ...]\n", argv[0]);
        return 2;
    }
    if (rastrum_abi_version() != RASTRUM_ABI_VERSION) {
        fprintf(stderr, "librastrum ABI %u, header ABI %d\n", rastrum_abi_version(), RASTRUM_ABI_VERSION);
        return 1;
    }
    if ((status = rastrum_model_open(argv[1], "cpu", 0, 0, &model)) != RASTRUM_OK) return fail("open", status);
    if ((status = rastrum_options_new(&options)) != RASTRUM_OK) {
        rc = fail("options", status);
        goto done;
    }
    for (i = 4; i < argc && rc == 0; i++) {
        char key[64];
        const char *eq = strchr(argv[i], '=');
        if (!eq || (size_t)(eq - argv[i]) >= sizeof key) {
            fprintf(stderr, "expected OPTION=VALUE, found %s\n", argv[i]);
            rc = 2;
            break;
        }
        memcpy(key, argv[i], (size_t)(eq - argv[i]));
        key[eq - argv[i]] = '\0';
        if ((status = rastrum_options_set(options, key, eq + 1)) != RASTRUM_OK) rc = fail(argv[i], status);
    }
    if (rc == 0) {
        status = rastrum_run(model, argv[2], argv[3], options, GDALTermProgress, NULL, &result);
        if (status != RASTRUM_OK) {
            rc = fail("run", status);
        } else if (rastrum_result_json(result, &summary) == RASTRUM_OK) {
            printf("%s\n", summary);
        }
    }
done:
    rastrum_string_free(summary);
    rastrum_result_free(result);
    rastrum_options_free(options);
    rastrum_model_free(model);
    return rc;
}
