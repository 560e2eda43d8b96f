using System.Buffers.Binary;
using System.Text;

namespace Campaign.Features.Photos;

/// <summary>
/// Walks an image file's structure without decoding it, reading only the headers it needs (a
/// ranged read each, a bounded number of them): JPEG segments up to the image data, PNG chunks, the
/// chunks of a WebP file and its VP8X flags. What it answers: the type's structure is there, the
/// dimensions from the headers are within <see cref="MaxPixels"/> (no decompression bomb), and the
/// file carries no location metadata: EXIF with GPS, or XMP, which hold personal data and in PNG and
/// WebP can sit after the image data. Nothing may follow the image's last part.
/// </summary>
public static class ImageStructure
{
    public const long MaxPixels = 40_000_000;

    /// <summary>More headers than this (a PNG cut into tiny chunks) is refused, not walked.</summary>
    const int MaxReads = 1024;

    /// <summary>The longest JPEG APP1 segment read (its length field's maximum).</summary>
    const int MaxSegment = 65_535;

    public enum Refusal
    {
        None,
        NotTheType,
        TooManyPixels,
        Location,
        TooComplex,
    }

    public sealed record Verdict(Refusal Refusal, int Width = 0, int Height = 0)
    {
        public bool Accepted => Refusal == Refusal.None;
    }

    /// <summary>Reads <c>count</c> bytes at <c>offset</c> of the file (fewer only at its end).</summary>
    public delegate Task<byte[]> ReadRange(long offset, int count);

    public static async Task<Verdict> Walk(string contentType, long length, ReadRange read)
    {
        var file = new ImageFile(read, length);
        try
        {
            var (width, height) = contentType switch
            {
                "image/jpeg" => await Jpeg(file),
                "image/png" => await Png(file),
                "image/webp" => await WebP(file),
                _ => throw new Malformed(),
            };
            return width <= 0 || height <= 0 ? new(Refusal.NotTheType)
                : (long)width * height > MaxPixels ? new(Refusal.TooManyPixels, width, height)
                : new(Refusal.None, width, height);
        }
        catch (Malformed)
        {
            return new(Refusal.NotTheType);
        }
        catch (LocationFound)
        {
            return new(Refusal.Location);
        }
        catch (TooManyReads)
        {
            return new(Refusal.TooComplex);
        }
    }

    static async Task<(int, int)> Jpeg(ImageFile file)
    {
        if (!(await file.At(0, 2)).AsSpan().SequenceEqual((byte[])[0xFF, 0xD8]))
            throw new Malformed();
        (int Width, int Height)? size = null;
        long at = 2;
        while (true)
        {
            var marker = await file.At(at, 2);
            if (marker[0] != 0xFF)
                throw new Malformed();
            if (marker[1] == 0xFF) // fill byte
            {
                at++;
                continue;
            }
            if (marker[1] is 0x01 or (>= 0xD0 and <= 0xD7)) // no length
            {
                at += 2;
                continue;
            }
            if (marker[1] == 0xD9) // the end, before any image data
                throw new Malformed();
            var length = BinaryPrimitives.ReadUInt16BigEndian(await file.At(at + 2, 2));
            if (length < 2)
                throw new Malformed();
            // Start of frame (C0-CF, but DHT C4, JPG C8 and DAC CC): precision, height, width.
            if (marker[1] is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                var frame = await file.At(at + 4, 5);
                size = (
                    BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(3)),
                    BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(1))
                );
            }
            if (marker[1] == 0xE1) // APP1: EXIF or XMP
                CheckApp1(await file.At(at + 4, Math.Min(length - 2, MaxSegment)));
            if (marker[1] == 0xDA) // start of scan: the image data follows
                break;
            at += 2 + length;
        }
        // The file ends with the image's end (EOI): nothing hides after it.
        if (!(await file.At(file.Length - 2, 2)).AsSpan().SequenceEqual((byte[])[0xFF, 0xD9]))
            throw new Malformed();
        return size ?? throw new Malformed();
    }

    static void CheckApp1(byte[] segment)
    {
        var text = segment.AsSpan();
        if (
            text.StartsWith("http://ns.adobe.com/xap/1.0/"u8)
            || text.StartsWith("http://ns.adobe.com/xmp/extension/"u8)
        )
            throw new LocationFound();
        if (text.StartsWith("Exif\0\0"u8) && HasGps(text[6..]))
            throw new LocationFound();
    }

    /// <summary>Whether a TIFF structure (EXIF's) points to a GPS directory from its first one.</summary>
    static bool HasGps(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8)
            throw new Malformed();
        var little = tiff[..2].SequenceEqual("II"u8);
        if (!little && !tiff[..2].SequenceEqual("MM"u8))
            throw new Malformed();
        int U16(ReadOnlySpan<byte> s, int at) =>
            little
                ? BinaryPrimitives.ReadUInt16LittleEndian(s[at..])
                : BinaryPrimitives.ReadUInt16BigEndian(s[at..]);
        var directory = (int)(
            little
                ? BinaryPrimitives.ReadUInt32LittleEndian(tiff[4..])
                : BinaryPrimitives.ReadUInt32BigEndian(tiff[4..])
        );
        if (directory < 8 || directory + 2 > tiff.Length)
            throw new Malformed();
        var entries = U16(tiff, directory);
        for (var i = 0; i < entries; i++)
        {
            var entry = directory + 2 + i * 12;
            if (entry + 12 > tiff.Length)
                throw new Malformed();
            if (U16(tiff, entry) == 0x8825) // GPSInfo
                return true;
        }
        return false;
    }

    static async Task<(int, int)> Png(ImageFile file)
    {
        if (
            !(await file.At(0, 8))
                .AsSpan()
                .SequenceEqual((byte[])[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        )
            throw new Malformed();
        (int, int)? size = null;
        long at = 8;
        while (true)
        {
            var header = await file.At(at, 8);
            var length = BinaryPrimitives.ReadUInt32BigEndian(header);
            var type = Encoding.ASCII.GetString(header, 4, 4);
            if (size is null && type != "IHDR")
                throw new Malformed();
            switch (type)
            {
                case "IHDR":
                    var ihdr = await file.At(at + 8, 8);
                    size = (
                        (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(ihdr), int.MaxValue),
                        (int)
                            Math.Min(
                                BinaryPrimitives.ReadUInt32BigEndian(ihdr.AsSpan(4)),
                                int.MaxValue
                            )
                    );
                    break;
                case "eXIf":
                    throw new LocationFound();
                case "iTXt" or "tEXt" or "zTXt":
                    // XMP travels as a text chunk with this keyword.
                    var keyword = await file.At(at + 8, (int)Math.Min(length, 18));
                    if (keyword.AsSpan().StartsWith("XML:com.adobe.xmp"u8))
                        throw new LocationFound();
                    break;
                case "IEND":
                    if (at + 12 != file.Length)
                        throw new Malformed();
                    return size!.Value;
            }
            at += 12L + length;
        }
    }

    static async Task<(int, int)> WebP(ImageFile file)
    {
        var riff = await file.At(0, 12);
        if (
            !riff.AsSpan(0, 4).SequenceEqual("RIFF"u8) || !riff.AsSpan(8, 4).SequenceEqual("WEBP"u8)
        )
            throw new Malformed();
        // RIFF's size covers the whole file: nothing may follow it.
        if (BinaryPrimitives.ReadUInt32LittleEndian(riff.AsSpan(4)) + 8L != file.Length)
            throw new Malformed();
        (int, int)? size = null;
        long at = 12;
        while (at < file.Length)
        {
            var header = await file.At(at, 8);
            var type = Encoding.ASCII.GetString(header, 0, 4);
            var length = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
            switch (type)
            {
                case "VP8X":
                    var extended = await file.At(at + 8, 10);
                    if ((extended[0] & 0x0C) != 0) // the EXIF (8) and XMP (4) flags
                        throw new LocationFound();
                    size = (1 + U24(extended.AsSpan(4)), 1 + U24(extended.AsSpan(7)));
                    break;
                case "VP8 ":
                    var frame = await file.At(at + 8, 10);
                    if (!frame.AsSpan(3, 3).SequenceEqual((byte[])[0x9D, 0x01, 0x2A]))
                        throw new Malformed();
                    size ??= (
                        BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(6)) & 0x3FFF,
                        BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(8)) & 0x3FFF
                    );
                    break;
                case "VP8L":
                    var lossless = await file.At(at + 8, 5);
                    if (lossless[0] != 0x2F)
                        throw new Malformed();
                    var bits = BinaryPrimitives.ReadUInt32LittleEndian(lossless.AsSpan(1));
                    size ??= (1 + (int)(bits & 0x3FFF), 1 + (int)((bits >> 14) & 0x3FFF));
                    break;
                case "EXIF" or "XMP ":
                    throw new LocationFound();
            }
            at += 8L + length + (length & 1);
        }
        return at == file.Length ? size ?? throw new Malformed() : throw new Malformed();
    }

    static int U24(ReadOnlySpan<byte> bytes) => bytes[0] | bytes[1] << 8 | bytes[2] << 16;

    /// <summary>The file as ranged reads, counted; a read past its end means a false structure.</summary>
    sealed class ImageFile(ReadRange read, long length)
    {
        int reads;

        public long Length => length;

        public async Task<byte[]> At(long offset, int count)
        {
            if (offset < 0 || count < 0 || offset + count > length)
                throw new Malformed();
            if (++reads > MaxReads)
                throw new TooManyReads();
            var bytes = await read(offset, count);
            return bytes.Length == count ? bytes : throw new Malformed();
        }
    }

    sealed class Malformed : Exception;

    sealed class LocationFound : Exception;

    sealed class TooManyReads : Exception;
}
