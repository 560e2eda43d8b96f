using Coravel.Invocable;
using Marten;

namespace Campaign.Features.Photos;

/// <summary>
/// Uploads that were signed but never attached (a closed tab, a refused file) leave an object
/// behind. The clock deletes them once nobody can attach them any more.
/// </summary>
public sealed class SweepPhotoUploads(
    IDocumentStore store,
    PhotoStorage storage,
    TimeProvider clock,
    ILogger<SweepPhotoUploads> logger
) : IInvocable
{
    public async Task Invoke()
    {
        var before = clock.GetUtcNow() - PhotoRules.AttachGrace;
        await using var session = store.LightweightSession();
        var stale = await session
            .Query<PhotoUpload>()
            .Where(u => u.ExpiresAt < before)
            .Take(500)
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
}
