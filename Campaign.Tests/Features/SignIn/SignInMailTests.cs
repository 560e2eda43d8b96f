using Campaign.Features.SignIn;
using Snapshooter;
using Snapshooter.Xunit;

namespace Campaign.Tests.Features.SignIn;

public sealed class SignInMailTests
{
    static readonly Uri Link = SignInMail.Link(
        new Uri("https://campaign.example.test"),
        "dGhpcy1pcy1hLXRlc3QtdG9rZW4tb2YtNDMtY2hhcnM"
    );

    [Theory]
    [InlineData("ja", true)]
    [InlineData("ja", false)]
    [InlineData("en", true)]
    [InlineData("en", false)]
    public void The_sign_in_mail_as_rendered(string locale, bool firstEntry)
    {
        var mail = SignInMail.Render(locale, firstEntry, Link);

        Snapshot.Match(
            $"Subject: {mail.Subject}\n\n{mail.Text}\n----- HTML -----\n{mail.Html}",
            new SnapshotNameExtension(locale, firstEntry ? "first-entry" : "again")
        );
    }

    [Theory]
    [InlineData("ja", true)]
    [InlineData("en", false)]
    public void The_template_with_a_recipients_values_is_that_recipients_mail(
        string locale,
        bool firstEntry
    )
    {
        var template = SignInMail.Template(locale, firstEntry);
        var values = SignInMail.Substitutions(Link);
        // What SendGrid does with each recipient's substitutions.
        string Apply(string text) =>
            values.Aggregate(text, (t, value) => t.Replace(value.Key, value.Value));

        var expected = SignInMail.Render(locale, firstEntry, Link);

        Assert.Equal(
            (expected.Subject, expected.Text, expected.Html),
            (template.Subject, Apply(template.Text), Apply(template.Html))
        );
        Assert.StartsWith($"sign-in:{locale}:{(firstEntry ? "entry" : "again")}:", template.Id);
    }

    [Fact]
    public void The_token_travels_in_the_fragment_so_no_server_ever_logs_it()
    {
        Assert.Equal("", Link.Query);
        Assert.Equal("/sign-in", Link.AbsolutePath);
        Assert.StartsWith("#token=", Link.Fragment);
    }
}
