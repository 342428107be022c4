// A C++17 host of librastrum: RAII ownership of the handles, and the concurrency the header
// promises: two threads running one model handle, and two handles, give the bytes of a serial
// run; a cancel token triggered from another thread stops a run and leaves no output.
//
//   host_cpp MODEL INPUT OUTPUT_DIR [OPTION=VALUE ...]
#include <rastrum.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct ModelFree {
    void operator()(rastrum_model *m) const { rastrum_model_free(m); }
};
struct OptionsFree {
    void operator()(rastrum_options *o) const { rastrum_options_free(o); }
};
struct CancelFree {
    void operator()(rastrum_cancel *c) const { rastrum_cancel_free(c); }
};
using Model = std::unique_ptr<rastrum_model, ModelFree>;
using Options = std::unique_ptr<rastrum_options, OptionsFree>;
using Cancel = std::unique_ptr<rastrum_cancel, CancelFree>;

// Throws on a failed status, with the library's message.
void ok(int32_t status, const char *what) {
    if (status != RASTRUM_OK) {
        throw std::runtime_error(std::string(what) + ": " + rastrum_status_str(status) + ": " +
                                 rastrum_last_error_message());
    }
}

Model open(const std::string &path) {
    rastrum_model *m = nullptr;
    ok(rastrum_model_open(path.c_str(), "cpu", 1, 0, &m), "model_open");
    return Model(m);
}

std::string bytes(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

bool exists(const std::string &path) { return std::ifstream(path).good(); }

int failures = 0;
void check(bool cond, const std::string &what) {
    if (!cond) {
        std::cerr << "FAIL: " << what << "\n";
        failures++;
    }
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 4) {
        std::cerr << "usage: " << argv[0] << " MODEL INPUT OUTPUT_DIR [OPTION=VALUE ...]\n";
        return 2;
    }
    const std::string model_path = argv[1], input = argv[2], dir = argv[3];
    try {
        rastrum_options *raw = nullptr;
        ok(rastrum_options_new(&raw), "options_new");
        Options opts(raw);
        for (int i = 4; i < argc; i++) {
            std::string kv = argv[i];
            auto eq = kv.find('=');
            ok(rastrum_options_set(opts.get(), kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str()), argv[i]);
        }

        Model shared = open(model_path);
        const std::string serial = dir + "/serial.tif";
        ok(rastrum_run(shared.get(), input.c_str(), serial.c_str(), opts.get(), nullptr, nullptr, nullptr), "serial run");
        const std::string expected = bytes(serial);
        check(!expected.empty(), "serial output written");

        // Two threads on one handle, then two threads on two handles.
        Model other = open(model_path);
        for (int round = 0; round < 2; round++) {
            rastrum_model *handles[2] = {shared.get(), round == 0 ? shared.get() : other.get()};
            std::vector<std::thread> threads;
            std::atomic<int> errors{0};
            for (int t = 0; t < 2; t++) {
                threads.emplace_back([&, t] {
                    const std::string out = dir + "/thread" + std::to_string(round) + std::to_string(t) + ".tif";
                    if (rastrum_run(handles[t], input.c_str(), out.c_str(), opts.get(), nullptr, nullptr, nullptr) != RASTRUM_OK) {
                        errors++;
                    }
                });
            }
            for (auto &th : threads) th.join();
            check(errors == 0, "concurrent runs succeed");
            for (int t = 0; t < 2; t++) {
                const std::string out = dir + "/thread" + std::to_string(round) + std::to_string(t) + ".tif";
                check(bytes(out) == expected, (round == 0 ? "same handle: " : "two handles: ") + out + " equals the serial run");
            }
        }

        // A cancel token triggered from another thread.
        rastrum_cancel *rc = nullptr;
        ok(rastrum_cancel_new(&rc), "cancel_new");
        Cancel cancel(rc);
        ok(rastrum_options_set_cancel(opts.get(), cancel.get()), "options_set_cancel");
        const std::string cancelled = dir + "/cancelled.tif";
        struct Seen {
            std::atomic<bool> started{false};
        } seen;
        auto progress = [](double, const char *, void *user) -> int {
            static_cast<Seen *>(user)->started = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            return 1;
        };
        int32_t status = RASTRUM_OK;
        std::thread runner([&] {
            status = rastrum_run(shared.get(), input.c_str(), cancelled.c_str(), opts.get(), progress, &seen, nullptr);
        });
        while (!seen.started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ok(rastrum_cancel_set(cancel.get(), 1), "cancel_set");
        runner.join();
        check(status == RASTRUM_CANCELLED, "a cancel from another thread returns CANCELLED");
        check(!exists(cancelled), "no output after a cancel from another thread");
    } catch (const std::exception &e) {
        std::cerr << "FAIL: " << e.what() << "\n";
        return 1;
    }
    std::cout << "host_cpp: " << (failures ? "FAILED" : "ok") << "\n";
    return failures ? 1 : 0;
}
