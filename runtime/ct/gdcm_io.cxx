// GDCM behind a C interface (runtime/ct/gdcm_io.h): the only C++ in ctvk, built as the module
// libctvk-gdcm.so that runtime/ct/gdcm_load.c loads on the first DICOM file (gdcm_module.h). Nothing
// here prints: GDCM's own trace output is switched off and every failure becomes one line in err.
#include "runtime/ct/gdcm_module.h"

#include <gdcmAttribute.h>
#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmImage.h>
#include <gdcmImageChangeTransferSyntax.h>
#include <gdcmImageReader.h>
#include <gdcmImageWriter.h>
#include <gdcmReader.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <sstream>
#include <string>

namespace {

std::once_flag g_once;
std::ostringstream g_sink;   // GDCM's trace stream (the messages are off; this catches strays)

void init()
{
    std::call_once(g_once, [] {
        gdcm::Trace::SetDebug(false);
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetError(false);
        gdcm::Trace::SetStream(g_sink);
    });
}

int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fail(char *err, size_t n, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

std::string trim(std::string s)
{
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
    size_t i = 0;
    while (i < s.size() && s[i] == ' ') i++;
    return s.substr(i);
}

std::string get_str(const gdcm::DataSet &ds, uint16_t g, uint16_t e)
{
    gdcm::Tag t(g, e);
    if (!ds.FindDataElement(t)) return "";
    const gdcm::DataElement &de = ds.GetDataElement(t);
    const gdcm::ByteValue *bv = de.GetByteValue();
    if (!bv || !bv->GetPointer()) return "";
    return trim(std::string(bv->GetPointer(), bv->GetLength()));
}

void copy(char *dst, size_t n, const std::string &s) { snprintf(dst, n, "%s", s.c_str()); }

// backslash-separated decimal numbers (DS, IS): how many were read
int get_nums(const gdcm::DataSet &ds, uint16_t g, uint16_t e, double *v, int max)
{
    std::string s = get_str(ds, g, e);
    if (s.empty()) return 0;
    int k = 0;
    const char *p = s.c_str();
    while (k < max && *p) {
        char *end;
        double x = strtod(p, &end);
        if (end == p) return 0;
        v[k++] = x;
        while (*end == ' ') end++;
        if (*end == '\\') end++;
        else if (*end) return 0;
        p = end;
    }
    return k;
}

int get_us(const gdcm::DataSet &ds, uint16_t g, uint16_t e, int dflt)
{
    gdcm::Tag t(g, e);
    if (!ds.FindDataElement(t)) return dflt;
    const gdcm::ByteValue *bv = ds.GetDataElement(t).GetByteValue();
    if (!bv || bv->GetLength() < 2) return dflt;
    const unsigned char *p = reinterpret_cast<const unsigned char *>(bv->GetPointer());
    return p[0] | p[1] << 8;   // Part 10 files ctvk reads are little endian (big endian is retired)
}

void fill(const gdcm::File &f, ctvk_gdcm_header *h)
{
    const gdcm::DataSet &ds = f.GetDataSet();
    memset(h, 0, sizeof *h);
    copy(h->modality, sizeof h->modality, get_str(ds, 0x0008, 0x0060));
    copy(h->image_type, sizeof h->image_type, get_str(ds, 0x0008, 0x0008));
    copy(h->sop_class, sizeof h->sop_class, get_str(ds, 0x0008, 0x0016));
    copy(h->series_uid, sizeof h->series_uid, get_str(ds, 0x0020, 0x000e));
    copy(h->series_description, sizeof h->series_description, get_str(ds, 0x0008, 0x103e));
    copy(h->patient_id, sizeof h->patient_id, get_str(ds, 0x0010, 0x0020));
    copy(h->photometric, sizeof h->photometric, get_str(ds, 0x0028, 0x0004));
    copy(h->transfer_syntax, sizeof h->transfer_syntax, get_str(f.GetHeader(), 0x0002, 0x0010));
    double v[6];
    if (get_nums(ds, 0x0020, 0x0011, v, 1) == 1) h->series_number = (int)v[0], h->has_series_number = 1;
    if (get_nums(ds, 0x0020, 0x0013, v, 1) == 1) h->instance = (int)v[0], h->has_instance = 1;
    if (get_nums(ds, 0x0020, 0x0032, v, 3) == 3) memcpy(h->ipp, v, sizeof h->ipp), h->has_ipp = 1;
    if (get_nums(ds, 0x0020, 0x0037, v, 6) == 6) memcpy(h->iop, v, sizeof h->iop), h->has_iop = 1;
    h->rows = get_us(ds, 0x0028, 0x0010, 0);
    h->cols = get_us(ds, 0x0028, 0x0011, 0);
    h->bits_allocated = get_us(ds, 0x0028, 0x0100, 0);
    h->pixel_representation = get_us(ds, 0x0028, 0x0103, 0);
    h->samples_per_pixel = get_us(ds, 0x0028, 0x0002, 1);
    h->frames = get_nums(ds, 0x0028, 0x0008, v, 1) == 1 ? (int)v[0] : 1;
    h->slope = get_nums(ds, 0x0028, 0x1053, v, 1) == 1 ? v[0] : 1.0;
    h->intercept = get_nums(ds, 0x0028, 0x1052, v, 1) == 1 ? v[0] : 0.0;
}

void put(gdcm::DataSet &ds, uint16_t g, uint16_t e, gdcm::VR vr, const std::string &value)
{
    std::string v = value;
    if (v.size() % 2) v += vr == gdcm::VR::UI ? '\0' : ' ';
    gdcm::DataElement de(gdcm::Tag(g, e));
    de.SetVR(vr);
    de.SetByteValue(v.data(), (uint32_t)v.size());
    ds.Replace(de);
}

std::string num(double x)
{
    char b[32];
    snprintf(b, sizeof b, "%.10g", x);
    return b;
}

}  // namespace

static int read_header(const char *path, ctvk_gdcm_header *h, char *err, size_t errsize)
{
    init();
    try {
        gdcm::Reader r;
        r.SetFileName(path);
        if (!r.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010)))
            return fail(err, errsize, "GDCM cannot parse the DICOM header (truncated or corrupt)");
        fill(r.GetFile(), h);
        return 0;
    } catch (const std::exception &e) {
        return fail(err, errsize, "GDCM cannot parse the DICOM header (%s)", e.what());
    } catch (...) {
        return fail(err, errsize, "GDCM cannot parse the DICOM header");
    }
}

static int read_image(const char *path, ctvk_gdcm_header *h, void **pixels, int *type, char *err,
                      size_t errsize)
{
    init();
    *pixels = NULL;
    try {
        gdcm::ImageReader r;
        r.SetFileName(path);
        if (!r.Read()) return fail(err, errsize, "GDCM cannot read the image (truncated, corrupt or no pixel data)");
        fill(r.GetFile(), h);
        const gdcm::Image &img = r.GetImage();
        const gdcm::PixelFormat &pf = img.GetPixelFormat();
        const unsigned int *dim = img.GetDimensions();
        if (img.GetNumberOfDimensions() > 2 && dim[2] > 1)
            return fail(err, errsize, "a multi-frame image (%u frames); ctvk reads one slice per file", dim[2]);
        if (pf.GetSamplesPerPixel() != 1)
            return fail(err, errsize, "%u samples per pixel; ctvk reads grayscale CT", (unsigned)pf.GetSamplesPerPixel());
        switch (pf.GetScalarType()) {
        case gdcm::PixelFormat::UINT8: *type = CTVK_GDCM_U8; break;
        case gdcm::PixelFormat::INT8: *type = CTVK_GDCM_I8; break;
        case gdcm::PixelFormat::UINT16: *type = CTVK_GDCM_U16; break;
        case gdcm::PixelFormat::INT16: *type = CTVK_GDCM_I16; break;
        case gdcm::PixelFormat::UINT32: *type = CTVK_GDCM_U32; break;
        case gdcm::PixelFormat::INT32: *type = CTVK_GDCM_I32; break;
        default:
            return fail(err, errsize, "pixel format %s; ctvk reads 8-, 16- or 32-bit integer samples",
                        pf.GetScalarTypeAsString());
        }
        if (dim[0] > 16384 || dim[1] > 16384)
            return fail(err, errsize, "an image of %ux%u pixels is larger than ctvk reads (16384 per side)", dim[0], dim[1]);
        size_t n = (size_t)dim[0] * dim[1];
        size_t len = img.GetBufferLength();
        size_t bytes = (size_t)pf.GetPixelSize();
        if (n == 0 || len != n * bytes)
            return fail(err, errsize, "a %ux%u image whose decoded size is %zu bytes", dim[0], dim[1], len);
        h->cols = (int)dim[0], h->rows = (int)dim[1];
        char *buf = (char *)malloc(len);
        if (!buf) return fail(err, errsize, "out of host memory for %zu bytes of pixel data", len);
        const gdcm::TransferSyntax &ts = img.GetTransferSyntax();
        if (!ts.IsEncapsulated()) {   // GDCM keeps what there was of truncated native pixel data: check
            const gdcm::DataSet &ds = r.GetFile().GetDataSet();
            const gdcm::Tag pt(0x7fe0, 0x0010);
            const gdcm::ByteValue *bv = ds.FindDataElement(pt) ? ds.GetDataElement(pt).GetByteValue() : NULL;
            if (!bv || bv->GetLength() < len) {
                free(buf);
                return fail(err, errsize, "truncated: the pixel data holds %u of the %zu bytes a %ux%u image needs",
                            bv ? (unsigned)bv->GetLength() : 0u, len, dim[0], dim[1]);
            }
        }
        if (!img.GetBuffer(buf)) {
            free(buf);
            if (ts.IsEncapsulated())
                return fail(err, errsize, "GDCM cannot decode the compressed pixel data (transfer syntax %s): "
                            "truncated or corrupt", h->transfer_syntax);
            return fail(err, errsize, "the pixel data is truncated or corrupt");
        }
        *pixels = buf;
        return 0;
    } catch (const std::exception &e) {
        return fail(err, errsize, "GDCM cannot read the image (%s)", e.what());
    } catch (...) {
        return fail(err, errsize, "GDCM cannot read the image");
    }
}

static int write_slice(const char *path, const ctvk_gdcm_slice *s, const void *pixels, char *err, size_t errsize)
{
    init();
    try {
        gdcm::SmartPointer<gdcm::Image> im = new gdcm::Image;
        im->SetNumberOfDimensions(2);
        im->SetDimension(0, (unsigned)s->cols);
        im->SetDimension(1, (unsigned)s->rows);
        im->SetPixelFormat(gdcm::PixelFormat(s->is_signed ? gdcm::PixelFormat::INT16 : gdcm::PixelFormat::UINT16));
        im->SetPhotometricInterpretation(gdcm::PhotometricInterpretation::MONOCHROME2);
        im->SetTransferSyntax(s->compression == CTVK_GDCM_IMPLICIT ? gdcm::TransferSyntax::ImplicitVRLittleEndian
                                                                   : gdcm::TransferSyntax::ExplicitVRLittleEndian);
        im->SetOrigin(s->ipp);
        im->SetOrigin(2, s->ipp[2]);   // a 2D image's SetOrigin(double[3]) keeps only x and y
        im->SetDirectionCosines(s->iop);
        im->SetSpacing(0, s->spacing);
        im->SetSpacing(1, s->spacing);
        im->SetSpacing(2, s->thickness);
        im->SetIntercept(s->intercept);
        im->SetSlope(s->slope);
        gdcm::DataElement px(gdcm::Tag(0x7fe0, 0x0010));
        px.SetByteValue((const char *)pixels, (uint32_t)((size_t)s->rows * s->cols * 2));
        im->SetDataElement(px);

        gdcm::ImageWriter w;
        if (s->compression == CTVK_GDCM_RLE || s->compression == CTVK_GDCM_JPEGLS ||
            s->compression == CTVK_GDCM_JPEG_LOSSLESS) {
            gdcm::ImageChangeTransferSyntax ch;
            ch.SetTransferSyntax(s->compression == CTVK_GDCM_RLE ? gdcm::TransferSyntax::RLELossless
                                 : s->compression == CTVK_GDCM_JPEGLS ? gdcm::TransferSyntax::JPEGLSLossless
                                                                      : gdcm::TransferSyntax::JPEGLosslessProcess14_1);
            ch.SetInput(*im);
            if (!ch.Change()) return fail(err, errsize, "GDCM cannot compress the slice");
            // the filter's output does not carry the geometry and rescale over: set them again
            gdcm::Image &out = const_cast<gdcm::Image &>(ch.GetOutput());
            out.SetOrigin(s->ipp);
            out.SetOrigin(2, s->ipp[2]);
            out.SetDirectionCosines(s->iop);
            out.SetSpacing(0, s->spacing);
            out.SetSpacing(1, s->spacing);
            out.SetSpacing(2, s->thickness);
            out.SetIntercept(s->intercept);
            out.SetSlope(s->slope);
            w.SetImage(out);
        } else {
            w.SetImage(*im);
        }
        gdcm::DataSet &ds = w.GetFile().GetDataSet();
        put(ds, 0x0008, 0x0016, gdcm::VR::UI, "1.2.840.10008.5.1.4.1.1.2");   // CT Image Storage
        put(ds, 0x0008, 0x0018, gdcm::VR::UI, s->sop_uid);
        put(ds, 0x0008, 0x0008, gdcm::VR::CS, s->image_type);
        put(ds, 0x0008, 0x0060, gdcm::VR::CS, s->modality);
        put(ds, 0x0008, 0x103e, gdcm::VR::LO, s->series_description);
        put(ds, 0x0010, 0x0010, gdcm::VR::PN, s->patient_name);
        put(ds, 0x0010, 0x0020, gdcm::VR::LO, s->patient_id);
        put(ds, 0x0020, 0x000d, gdcm::VR::UI, s->study_uid);
        put(ds, 0x0020, 0x000e, gdcm::VR::UI, s->series_uid);
        put(ds, 0x0020, 0x0052, gdcm::VR::UI, s->frame_uid);
        put(ds, 0x0020, 0x0011, gdcm::VR::IS, num(s->series_number));
        put(ds, 0x0020, 0x0013, gdcm::VR::IS, num(s->instance));
        put(ds, 0x0018, 0x0050, gdcm::VR::DS, num(s->thickness));
        put(ds, 0x0028, 0x1052, gdcm::VR::DS, num(s->intercept));
        put(ds, 0x0028, 0x1053, gdcm::VR::DS, num(s->slope));
        w.SetFileName(path);
        if (!w.Write()) return fail(err, errsize, "GDCM cannot write the file");
        return 0;
    } catch (const std::exception &e) {
        return fail(err, errsize, "GDCM cannot write the file (%s)", e.what());
    } catch (...) {
        return fail(err, errsize, "GDCM cannot write the file");
    }
}

#ifndef CTVK_VERSION_STRING
#define CTVK_VERSION_STRING "unknown"
#endif

extern "C" __attribute__((visibility("default"))) const ctvk_gdcm_table *ctvk_gdcm_module(void)
{
    static const ctvk_gdcm_table t = {CTVK_GDCM_ABI, sizeof(ctvk_gdcm_header), sizeof(ctvk_gdcm_slice),
                                      CTVK_VERSION_STRING, read_header, read_image, write_slice};
    return &t;
}
