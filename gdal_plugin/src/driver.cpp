// The C++ half of GDAL's RASTRUM driver: the dataset and band classes GDAL's C API cannot make.
// Everything about the run lives in Rust (lib.rs): this file asks it for the output's
// description once (JSON) and for each block GDAL reads, and reports its errors with CPLError.
//
// Overviews (zoomed-out reads, e.g. QGIS showing a whole mosaic): running the model on every
// full-resolution block behind a small view would be slow, so the bands report overviews from
// a factor RASTRUM_OVERVIEW_MIN_FACTOR (default 4) on, which read as nodata (transparent in
// QGIS: zoom in to see the model's output). RASTRUM_OVERVIEW_MIN_FACTOR=0 reports none, so GDAL
// computes zoomed-out views from full-resolution blocks (the model runs on all of them).

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cpl_json.h"
#include "cpl_string.h"
#include "gdal_pam.h"
#include "gdal_priv.h"

// lib.rs: 0 or a non-zero RASTRUM_* status, the message in rastrum_gdal_last_error() (the
// library's per-thread last error, which the log line prefixes with "Rastrum: ").
extern "C" {
int rastrum_gdal_open(const char *connection, void **out, char **out_info);
int rastrum_gdal_read(const void *handle, int band, int x, int y, int width, int height, void *buffer);
void rastrum_gdal_close(void *handle);
void rastrum_gdal_string_free(char *s);
const char *rastrum_gdal_last_error();
void rastrum_gdal_register();
}

namespace {

constexpr const char *PREFIX = "RASTRUM:";
constexpr const char *EXTENSION = ".rastrum.json";

bool ends_with(const std::string &s, const std::string &tail) {
    return s.size() >= tail.size() && EQUAL(s.c_str() + s.size() - tail.size(), tail.c_str());
}

class RastrumDataset;

// Overview levels, all nodata: a dataset per level, as GDAL expects of overview bands.
class NodataBand final : public GDALRasterBand {
    double nodata_;

  public:
    NodataBand(GDALDataset *ds, int band, GDALDataType type, double nodata, int block) : nodata_(nodata) {
        poDS = ds;
        nBand = band;
        eDataType = type;
        nRasterXSize = ds->GetRasterXSize();
        nRasterYSize = ds->GetRasterYSize();
        nBlockXSize = std::min(block, nRasterXSize);
        nBlockYSize = std::min(block, nRasterYSize);
    }
    CPLErr IReadBlock(int, int, void *data) override;
    double GetNoDataValue(int *ok) override {
        if (ok) *ok = TRUE;
        return nodata_;
    }
};

class NodataDataset final : public GDALDataset {
    int factor_;
    std::atomic<bool> warned_{false};

  public:
    NodataDataset(int width, int height, int factor) : factor_(factor) {
        nRasterXSize = std::max(1, width);
        nRasterYSize = std::max(1, height);
    }
    void add(GDALDataType type, double nodata, int block) {
        SetBand(nBands + 1, new NodataBand(this, nBands + 1, type, nodata, block));
    }
    // Said once per overview level: QGIS shows GDAL's warnings in its message log, the one hint
    // a blank zoomed-out view can give.
    void warn_once() {
        if (warned_.exchange(true)) return;
        CPLError(CE_Warning, CPLE_AppDefined,
                 "Rastrum: a view zoomed out to 1:%d reads as nodata: the model runs at full resolution only. "
                 "Zoom in past 1:%d to see its output, or set RASTRUM_OVERVIEW_MIN_FACTOR=0 to compute "
                 "zoomed-out views from every full-resolution block (the model runs on all of them).",
                 factor_, factor_);
    }
};

CPLErr NodataBand::IReadBlock(int, int, void *data) {
    static_cast<NodataDataset *>(poDS)->warn_once();
    GDALCopyWords(&nodata_, GDT_Float64, 0, data, eDataType, GDALGetDataTypeSizeBytes(eDataType),
                  static_cast<size_t>(nBlockXSize) * nBlockYSize);
    return CE_None;
}

class RastrumBand final : public GDALPamRasterBand {
    friend class RastrumDataset;
    double nodata_ = 0;
    bool has_scale_ = false;
    double scale_ = 1;
    CPLStringList categories_;
    std::unique_ptr<GDALColorTable> colours_;

  public:
    RastrumBand(RastrumDataset *ds, int band, const CPLJSONObject &info, int block);
    CPLErr IReadBlock(int bx, int by, void *data) override;
    double GetNoDataValue(int *ok) override {
        if (ok) *ok = TRUE;
        return nodata_;
    }
    double GetScale(int *ok) override {
        if (ok) *ok = has_scale_;
        return scale_;
    }
    double GetOffset(int *ok) override {
        if (ok) *ok = has_scale_;
        return 0;
    }
    char **GetCategoryNames() override { return categories_.List(); }
    GDALColorTable *GetColorTable() override { return colours_.get(); }
    GDALColorInterp GetColorInterpretation() override { return colours_ ? GCI_PaletteIndex : GCI_GrayIndex; }
    int GetOverviewCount() override;
    GDALRasterBand *GetOverview(int i) override;
};

class RastrumDataset final : public GDALPamDataset {
    friend class RastrumBand;
    void *handle_ = nullptr;
    double gt_[6] = {0, 1, 0, 0, 0, 1};
    bool has_gt_ = false;
    OGRSpatialReference srs_;
    std::vector<std::unique_ptr<NodataDataset>> overviews_;

  public:
    ~RastrumDataset() override {
        FlushCache(true);
        rastrum_gdal_close(handle_);
    }

    static int Identify(GDALOpenInfo *info) {
        const std::string name = info->pszFilename;
        return STARTS_WITH_CI(name.c_str(), PREFIX) || ends_with(name, EXTENSION);
    }

    static GDALDataset *Open(GDALOpenInfo *info) {
        if (!Identify(info)) return nullptr;
        if (info->eAccess == GA_Update) {
            CPLError(CE_Failure, CPLE_NotSupported, "Rastrum: RASTRUM datasets are read-only");
            return nullptr;
        }
        void *handle = nullptr;
        char *text = nullptr;
        if (rastrum_gdal_open(info->pszFilename, &handle, &text) != 0) {
            CPLError(CE_Failure, CPLE_AppDefined, "Rastrum: %s", rastrum_gdal_last_error());
            return nullptr;
        }
        CPLJSONDocument doc;
        const bool parsed = doc.LoadMemory(std::string(text));
        rastrum_gdal_string_free(text);
        if (!parsed) {
            rastrum_gdal_close(handle);
            CPLError(CE_Failure, CPLE_AppDefined, "Rastrum: unreadable dataset description");
            return nullptr;
        }
        auto ds = std::make_unique<RastrumDataset>();
        ds->handle_ = handle;
        const CPLJSONObject root = doc.GetRoot();
        ds->nRasterXSize = root.GetInteger("width");
        ds->nRasterYSize = root.GetInteger("height");
        const CPLJSONArray gt = root.GetArray("geo_transform");
        if (gt.IsValid() && gt.Size() == 6) {
            for (int i = 0; i < 6; i++) ds->gt_[i] = gt[i].ToDouble();
            ds->has_gt_ = true;
        }
        const std::string wkt = root.GetString("projection");
        if (!wkt.empty()) {
            ds->srs_.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
            ds->srs_.importFromWkt(wkt.c_str());
        }
        const int block = std::max(16, root.GetInteger("block"));
        const CPLJSONArray bands = root.GetArray("bands");
        for (int b = 0; b < bands.Size(); b++) ds->SetBand(b + 1, new RastrumBand(ds.get(), b + 1, bands[b], block));
        // Overview levels from the minimum factor on, down to about one block.
        const char *min_factor = CPLGetConfigOption("RASTRUM_OVERVIEW_MIN_FACTOR", "4");
        for (int f = atoi(min_factor); f > 0 && std::max(ds->nRasterXSize, ds->nRasterYSize) / f >= block / 2; f *= 2) {
            auto ov = std::make_unique<NodataDataset>(DIV_ROUND_UP(ds->nRasterXSize, f), DIV_ROUND_UP(ds->nRasterYSize, f), f);
            for (int b = 1; b <= ds->nBands; b++) {
                auto *band = static_cast<RastrumBand *>(ds->GetRasterBand(b));
                ov->add(band->GetRasterDataType(), band->nodata_, block);
            }
            ds->overviews_.push_back(std::move(ov));
        }
        ds->SetDescription(info->pszFilename);
        // Statistics and other PAM items go beside a spec file; an inline spec has nowhere.
        const std::string name = info->pszFilename;
        std::string rest = STARTS_WITH_CI(name.c_str(), PREFIX) ? name.substr(strlen(PREFIX)) : name;
        if (!rest.empty() && rest[0] == '{') {
            ds->nPamFlags |= GPF_DISABLED;
        } else {
            ds->SetPhysicalFilename(rest.c_str());
        }
        ds->TryLoadXML();
        return ds.release();
    }

    CPLErr GetGeoTransform(double *out) override {
        memcpy(out, gt_, sizeof gt_);
        return has_gt_ ? CE_None : CE_Failure;
    }
    const OGRSpatialReference *GetSpatialRef() const override { return srs_.IsEmpty() ? nullptr : &srs_; }
};

RastrumBand::RastrumBand(RastrumDataset *ds, int band, const CPLJSONObject &info, int block) {
    poDS = ds;
    nBand = band;
    eDataType = info.GetString("data_type") == "u8" ? GDT_Byte : GDT_Float32;
    nBlockXSize = std::min(block, ds->GetRasterXSize());
    nBlockYSize = std::min(block, ds->GetRasterYSize());
    nodata_ = info.GetDouble("nodata");
    const CPLJSONObject scale = info.GetObj("scale");
    if (scale.IsValid()) {
        has_scale_ = true;
        scale_ = scale.ToDouble();
    }
    GDALPamRasterBand::SetDescription(info.GetString("description").c_str());
    for (const auto &c : info.GetArray("categories")) categories_.AddString(c.ToString().c_str());
    const CPLJSONArray colours = info.GetArray("colours");
    if (colours.IsValid() && colours.Size() > 0) {
        colours_ = std::make_unique<GDALColorTable>();
        for (int i = 0; i < colours.Size(); i++) {
            const CPLJSONArray c = colours[i].ToArray();
            GDALColorEntry e = {static_cast<short>(c[0].ToInteger()), static_cast<short>(c[1].ToInteger()),
                                static_cast<short>(c[2].ToInteger()), static_cast<short>(c[3].ToInteger())};
            colours_->SetColorEntry(i, &e);
        }
    }
}

CPLErr RastrumBand::IReadBlock(int bx, int by, void *data) {
    auto *ds = static_cast<RastrumDataset *>(poDS);
    const int x = bx * nBlockXSize, y = by * nBlockYSize;
    const int w = std::min(nBlockXSize, nRasterXSize - x), h = std::min(nBlockYSize, nRasterYSize - y);
    const int bytes = GDALGetDataTypeSizeBytes(eDataType);
    const bool whole = w == nBlockXSize && h == nBlockYSize;
    std::vector<GByte> part(whole ? 0 : static_cast<size_t>(w) * h * bytes);
    if (rastrum_gdal_read(ds->handle_, nBand, x, y, w, h, whole ? data : part.data()) != 0) {
        CPLError(CE_Failure, CPLE_AppDefined, "Rastrum: %s", rastrum_gdal_last_error());
        return CE_Failure;
    }
    if (!whole) {
        // An edge block: the rectangle's rows at the block's stride, nodata beyond.
        GDALCopyWords(&nodata_, GDT_Float64, 0, data, eDataType, bytes, static_cast<size_t>(nBlockXSize) * nBlockYSize);
        for (int r = 0; r < h; r++)
            memcpy(static_cast<GByte *>(data) + static_cast<size_t>(r) * nBlockXSize * bytes,
                   part.data() + static_cast<size_t>(r) * w * bytes, static_cast<size_t>(w) * bytes);
    }
    return CE_None;
}

int RastrumBand::GetOverviewCount() {
    return static_cast<int>(static_cast<RastrumDataset *>(poDS)->overviews_.size());
}

GDALRasterBand *RastrumBand::GetOverview(int i) {
    auto &ovs = static_cast<RastrumDataset *>(poDS)->overviews_;
    return i >= 0 && i < static_cast<int>(ovs.size()) ? ovs[i]->GetRasterBand(nBand) : nullptr;
}

}  // namespace

extern "C" void rastrum_gdal_register() {
    if (!GDAL_CHECK_VERSION("RASTRUM")) return;
    if (GDALGetDriverByName("RASTRUM") != nullptr) return;
    auto *driver = new GDALDriver();
    driver->SetDescription("RASTRUM");
    driver->SetMetadataItem(GDAL_DCAP_RASTER, "YES");
    driver->SetMetadataItem(GDAL_DMD_LONGNAME, "Rastrum: a model run over a raster, computed on demand");
    driver->SetMetadataItem(GDAL_DMD_CONNECTION_PREFIX, PREFIX);
    driver->SetMetadataItem(GDAL_DMD_EXTENSIONS, "rastrum.json");
    driver->SetMetadataItem(GDAL_DCAP_VIRTUALIO, "YES");
    driver->pfnIdentify = RastrumDataset::Identify;
    driver->pfnOpen = RastrumDataset::Open;
    GetGDALDriverManager()->RegisterDriver(driver);
}
