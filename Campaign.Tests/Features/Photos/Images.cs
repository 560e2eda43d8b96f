using System.Buffers.Binary;
using System.Text;

namespace Campaign.Tests.Features.Photos;

/// <summary>
/// Files as people pick them, and files that only pretend. The built ones have the structure of
/// their type (segments, chunks) with dimensions and metadata a test chooses, and placeholder bytes
/// where the image data would be: the app walks the structure, it never decodes the picture.
/// </summary>
public static class Images
{
    /// <summary>A real 1×1 PNG.</summary>
    public static readonly byte[] Png = Convert.FromBase64String(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    );

    /// <summary>A JPEG's structure: SOI, JFIF, the frame (its size), a scan, EOI.</summary>
    public static readonly byte[] Jpeg = JpegOf(640, 480);

    public static readonly byte[] Html =
        "<!DOCTYPE html><html><script>alert(1)</script></html>"u8.ToArray();

    public static byte[] OfSize(long bytes)
    {
        var file = new byte[bytes];
        Png.CopyTo(file, 0);
        return file;
    }

    public static byte[] JpegOf(int width, int height, byte[]? app1 = null) =>
        [
            0xFF,
            0xD8,
            .. Segment(0xE0, [.. "JFIF\0"u8, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
            .. app1 is null ? [] : Segment(0xE1, app1),
            .. Segment(
                0xC0,
                [
                    8,
                    (byte)(height >> 8),
                    (byte)height,
                    (byte)(width >> 8),
                    (byte)width,
                    1,
                    1,
                    0x11,
                    0,
                ]
            ),
            .. Segment(0xDA, [1, 1, 0, 0, 0x3F, 0]),
            0x12,
            0x34,
            0x56,
            0xFF,
            0xD9,
        ];

    static byte[] Segment(byte marker, byte[] data) =>
        [0xFF, marker, (byte)((data.Length + 2) >> 8), (byte)(data.Length + 2), .. data];

    /// <summary>An EXIF block whose first directory holds <paramref name="tag"/> (0x8825: GPS).</summary>
    public static byte[] Exif(ushort tag) =>
        [
            .. "Exif\0\0"u8,
            .. "II*\0"u8,
            8,
            0,
            0,
            0, // the first directory, at 8
            1,
            0, // one entry
            (byte)tag,
            (byte)(tag >> 8),
            4,
            0, // LONG
            1,
            0,
            0,
            0,
            26,
            0,
            0,
            0,
            0,
            0,
            0,
            0, // no next directory
        ];

    public static readonly byte[] Xmp =
    [
        .. "http://ns.adobe.com/xap/1.0/\0"u8,
        .. "<x:xmpmeta><exif:GPSLatitude>35,41.0N</exif:GPSLatitude></x:xmpmeta>"u8,
    ];

    /// <summary>A PNG: IHDR of the size, one IDAT, then the chunks given, then IEND.</summary>
    public static byte[] PngOf(int width, int height, params (string Type, byte[] Data)[] after)
    {
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 6; // RGBA
        return
        [
            0x89,
            0x50,
            0x4E,
            0x47,
            0x0D,
            0x0A,
            0x1A,
            0x0A,
            .. Chunk("IHDR", header),
            .. Chunk("IDAT", [0x78, 0x9C, 0x63, 0, 0, 0, 0, 1]),
            .. after.SelectMany(c => Chunk(c.Type, c.Data)),
            .. Chunk("IEND", []),
        ];
    }

    static byte[] Chunk(string type, byte[] data)
    {
        var typed = (byte[])[.. Encoding.ASCII.GetBytes(type), .. data];
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
        typed.CopyTo(chunk, 4);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32(typed));
        return chunk;
    }

    static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var i = 0; i < 8; i++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A WebP: VP8X (its flags and canvas), a lossless frame, then the chunks given.</summary>
    public static byte[] WebPOf(
        int width,
        int height,
        byte flags = 0,
        params (string Type, byte[] Data)[] after
    )
    {
        var extended = new byte[10];
        extended[0] = flags;
        WriteU24(extended.AsSpan(4), width - 1);
        WriteU24(extended.AsSpan(7), height - 1);
        var bits = (uint)(width - 1) | (uint)(height - 1) << 14;
        var lossless = (byte[])
            [0x2F, (byte)bits, (byte)(bits >> 8), (byte)(bits >> 16), (byte)(bits >> 24), 0];
        byte[] chunks =
        [
            .. RiffChunk("VP8X", extended),
            .. RiffChunk("VP8L", lossless),
            .. after.SelectMany(c => RiffChunk(c.Type, c.Data)),
        ];
        var file = new byte[12 + chunks.Length];
        "RIFF"u8.CopyTo(file);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(4), 4 + chunks.Length);
        "WEBP"u8.CopyTo(file.AsSpan(8));
        chunks.CopyTo(file, 12);
        return file;
    }

    static byte[] RiffChunk(string type, byte[] data)
    {
        var chunk = new byte[8 + data.Length + (data.Length & 1)];
        Encoding.ASCII.GetBytes(type).CopyTo(chunk, 0);
        BinaryPrimitives.WriteInt32LittleEndian(chunk.AsSpan(4), data.Length);
        data.CopyTo(chunk, 8);
        return chunk;
    }

    static void WriteU24(Span<byte> to, int value)
    {
        to[0] = (byte)value;
        to[1] = (byte)(value >> 8);
        to[2] = (byte)(value >> 16);
    }
}
