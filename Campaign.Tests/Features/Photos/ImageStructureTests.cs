using Campaign.Features.Photos;
using static Campaign.Features.Photos.ImageStructure;

namespace Campaign.Tests.Features.Photos;

/// <summary>The structure walk, on files in memory read as the bucket's ranged reads would.</summary>
public sealed class ImageStructureTests
{
    static Task<Verdict> Check(string contentType, byte[] file) =>
        Walk(
            contentType,
            file.Length,
            (offset, count) => Task.FromResult(file.AsSpan((int)offset, count).ToArray())
        );

    [Fact]
    public async Task Each_type_is_read_with_its_size_from_its_headers()
    {
        Assert.Equal(new Verdict(Refusal.None, 1, 1), await Check("image/png", Images.Png));
        Assert.Equal(new Verdict(Refusal.None, 640, 480), await Check("image/jpeg", Images.Jpeg));
        Assert.Equal(
            new Verdict(Refusal.None, 300, 200),
            await Check("image/png", Images.PngOf(300, 200))
        );
        Assert.Equal(
            new Verdict(Refusal.None, 1200, 900),
            await Check("image/webp", Images.WebPOf(1200, 900))
        );
    }

    [Fact]
    public async Task A_camera_JPEG_with_EXIF_but_no_GPS_is_accepted()
    {
        var exif = Images.JpegOf(4000, 3000, Images.Exif(0x010F)); // the camera's maker
        Assert.True((await Check("image/jpeg", exif)).Accepted);
    }

    public static TheoryData<string, string, byte[]> WithLocation =>
        new()
        {
            { "EXIF GPS in a JPEG", "image/jpeg", Images.JpegOf(800, 600, Images.Exif(0x8825)) },
            { "XMP in a JPEG", "image/jpeg", Images.JpegOf(800, 600, Images.Xmp) },
            {
                "eXIf after a PNG's image data",
                "image/png",
                Images.PngOf(8, 8, ("eXIf", [.. Images.Exif(0x8825)[6..]]))
            },
            {
                "XMP after a PNG's image data",
                "image/png",
                Images.PngOf(8, 8, ("iTXt", [.. "XML:com.adobe.xmp\0\0\0\0\0"u8, .. Images.Xmp]))
            },
            { "a WebP whose VP8X says EXIF", "image/webp", Images.WebPOf(8, 8, flags: 0x08) },
            { "a WebP whose VP8X says XMP", "image/webp", Images.WebPOf(8, 8, flags: 0x04) },
            {
                "an EXIF chunk after a WebP's image data, flags silent",
                "image/webp",
                Images.WebPOf(8, 8, 0, ("EXIF", Images.Exif(0x8825)[6..]))
            },
        };

    [Theory]
    [MemberData(nameof(WithLocation))]
    public async Task Location_metadata_anywhere_is_refused(string _, string type, byte[] file) =>
        Assert.Equal(Refusal.Location, (await Check(type, file)).Refusal);

    public static TheoryData<string, string, byte[]> Bombs =>
        new()
        {
            { "a 48 MP JPEG", "image/jpeg", Images.JpegOf(8000, 6000) },
            { "a PNG of 100,000 × 100,000", "image/png", Images.PngOf(100_000, 100_000) },
            { "a WebP of 16,384 × 16,384", "image/webp", Images.WebPOf(16_384, 16_384) },
        };

    [Theory]
    [MemberData(nameof(Bombs))]
    public async Task More_than_40_megapixels_is_refused_from_the_headers(
        string _,
        string type,
        byte[] file
    ) => Assert.Equal(Refusal.TooManyPixels, (await Check(type, file)).Refusal);

    public static TheoryData<string, string, byte[]> Pretenders =>
        new()
        {
            { "HTML as a PNG", "image/png", Images.Html },
            { "HTML as a JPEG", "image/jpeg", Images.Html },
            { "a PNG as a JPEG", "image/jpeg", Images.Png },
            { "a JPEG cut short (no end of image)", "image/jpeg", Images.Jpeg[..^2] },
            { "HTML after a JPEG's end", "image/jpeg", [.. Images.Jpeg, .. Images.Html] },
            { "HTML after a PNG's IEND", "image/png", [.. Images.Png, .. Images.Html] },
            { "HTML after a WebP's RIFF", "image/webp", [.. Images.WebPOf(8, 8), .. Images.Html] },
            {
                "only the start of a JPEG",
                "image/jpeg",
                [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, .. "JFIF"u8, 0, .. new byte[64]]
            },
        };

    [Theory]
    [MemberData(nameof(Pretenders))]
    public async Task A_file_without_its_types_structure_is_refused(
        string _,
        string type,
        byte[] file
    ) => Assert.Equal(Refusal.NotTheType, (await Check(type, file)).Refusal);

    [Fact]
    public async Task A_PNG_cut_into_more_chunks_than_the_walk_reads_is_refused()
    {
        var tiny = Enumerable.Range(0, 1100).Select(_ => ("IDAT", new byte[1])).ToArray();

        var verdict = await Check("image/png", Images.PngOf(8, 8, tiny));

        Assert.Equal(Refusal.TooComplex, verdict.Refusal);
    }
}
