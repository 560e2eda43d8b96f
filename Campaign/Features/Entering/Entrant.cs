using Marten;

namespace Campaign.Features.Entering;

public enum EntrantStatus
{
    Pending,
    Confirmed,
}

/// <summary>
/// A person who entered the campaign, stored as a Marten document (JSON in PostgreSQL). The e-mail
/// is kept as entered, for display, and is unique whatever its letter case.
/// </summary>
public sealed class Entrant
{
    public Guid Id { get; set; }
    public required string Email { get; set; }
    public required string DisplayName { get; set; }
    public required string Locale { get; set; }
    public EntrantStatus Status { get; set; }
    public bool CampaignMail { get; set; }
    public required string TermsVersion { get; set; }
    public DateTimeOffset TermsAcceptedAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ConfirmedAt { get; set; }
    public Photos.Photo? Photo { get; set; }

    /// <summary>
    /// A new entrant. Its id is ordered by time (UUID version 7): each entrant's row, and its
    /// token's and mail's entries under its id, go at the end of their indexes instead of at a
    /// random page, which PostgreSQL writes with less work.
    /// </summary>
    public static Entrant Enter(EntryInput input, DateTimeOffset now) =>
        new()
        {
            Id = Guid.CreateVersion7(now),
            Email = input.Email,
            DisplayName = input.DisplayName,
            Locale = input.Locale,
            Status = EntrantStatus.Pending,
            CampaignMail = input.CampaignMail,
            TermsVersion = Terms.Version,
            TermsAcceptedAt = now,
            CreatedAt = now,
        };

    /// <summary>The first successful sign-in proves the address: the entry is confirmed.</summary>
    public void Confirm(DateTimeOffset now)
    {
        if (Status == EntrantStatus.Pending)
        {
            Status = EntrantStatus.Confirmed;
            ConfirmedAt = now;
        }
    }

    /// <summary>The key that makes addresses unique: case does not make another person.</summary>
    public static void Configure(StoreOptions options) =>
        options
            .Schema.For<Entrant>()
            .Index(
                x => x.Email,
                index =>
                {
                    index.IsUnique = true;
                    index.Casing = Marten.Schema.ComputedIndex.Casings.Lower;
                    index.Name = "mt_doc_entrant_uidx_email";
                }
            );
}

/// <summary>
/// The terms and privacy policy an entrant consents to; the version is recorded with the consent.
/// Change it whenever /terms or /privacy says something new.
/// </summary>
public static class Terms
{
    public const string Version = "2026-12-01";
}
