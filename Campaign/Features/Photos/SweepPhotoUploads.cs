using Coravel.Invocable;
using Marten;

namespace Campaign.Features.Photos;

/// <summary>
/// The bucket's clean-up, every ten minutes on the clock. Uploads that were signed but never
/// attached (a closed tab, a refused file) leave an object behind, and so may a signature used
/// already: deleted with its record once nobody can attach it any more and it no longer counts
/// in the entrant's hour of signatures. Entrants who are gone leave a <see cref="PhotoErasure"/>: their prefix is deleted
/// again until no signature of theirs can bring an object back, whatever S3 did meanwhile.
/// </summary>
public sealed class SweepPhotoUploads(
    IDocumentStore store,
    PhotoStorage storage,
    TimeProvider clock,
    ILogger<SweepPhotoUploads> logger
) : IInvocable
{
    const int Batch = 500;

    public async Task Invoke()
    {
        await SweepUnattached();
        await SweepErasures();
    }

    async Task SweepUnattached()
    {
        var now = clock.GetUtcNow();
        var (expired, counted) = (now - PhotoRules.AttachGrace, now - PhotoRules.SignatureWindow);
        await using var session = store.LightweightSession();
        var stale = await session
            .Query<PhotoUpload>()
            .Where(u => u.ExpiresAt < expired && u.CreatedAt < counted)
            .Take(Batch)
            .ToListAsync();
        foreach (var upload in stale)
        {
            await storage.Delete(upload.Id); // S3 answers success for a key that was never uploaded
            session.Delete(upload);
        }
        await session.SaveChangesAsync();
        if (stale.Count > 0)
            logger.LogInformation("photo upload sweep deleted={Deleted}", stale.Count);
    }

    async Task SweepErasures()
    {
        await using var session = store.LightweightSession();
        var erasures = await session
            .Query<PhotoErasure>()
            .OrderBy(e => e.Until)
            .Take(Batch)
            .ToListAsync();
        if (erasures.Count == 0)
            return;
        var (done, waiting) = (0, 0);
        foreach (var erasure in erasures)
        {
            // Read before the deletion: an upload that lands after it was signed before this time.
            var now = clock.GetUtcNow();
            if (await storage.TryDeletePrefixes([erasure.Id], "erasure sweep", default))
            {
                if (now > erasure.Until)
                {
                    session.Delete(erasure);
                    done++;
                }
                else
                    waiting++;
            }
            else
            {
                erasure.Attempts++;
                erasure.LastError = "S3 failed";
                session.Update(erasure);
            }
        }
        await session.SaveChangesAsync();
        logger.LogInformation(
            "photo erasure sweep done={Done} waiting_for_signatures={Waiting} failed={Failed}",
            done,
            waiting,
            erasures.Count - done - waiting
        );
    }
}
