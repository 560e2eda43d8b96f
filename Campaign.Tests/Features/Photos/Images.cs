namespace Campaign.Tests.Features.Photos;

/// <summary>Files as people pick them, and files that only pretend.</summary>
public static class Images
{
    /// <summary>A real 1×1 PNG.</summary>
    public static readonly byte[] Png = Convert.FromBase64String(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    );

    /// <summary>The start of a JPEG (SOI and a JFIF APP0 segment), padded.</summary>
    public static readonly byte[] Jpeg =
    [
        0xFF,
        0xD8,
        0xFF,
        0xE0,
        0x00,
        0x10,
        .. "JFIF"u8,
        0x00,
        .. new byte[64],
    ];

    public static readonly byte[] Html =
        "<!DOCTYPE html><html><script>alert(1)</script></html>"u8.ToArray();

    public static byte[] OfSize(long bytes)
    {
        var file = new byte[bytes];
        Png.CopyTo(file, 0);
        return file;
    }
}
