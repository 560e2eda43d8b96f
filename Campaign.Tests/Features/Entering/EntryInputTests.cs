using Campaign.Features;
using Campaign.Features.Entering;

namespace Campaign.Tests.Features.Entering;

public sealed class EntryInputTests
{
    static (EntryInput? Input, Dictionary<string, string[]> Errors) Check(
        string? email = "taro@example.jp",
        string? name = "山田 太郎",
        bool? consent = true,
        string locale = Language.Japanese
    ) => EntryInput.Check(email, name, consent, campaignMail: null, locale);

    [Fact]
    public void Full_width_characters_typed_on_a_Japanese_keyboard_become_ASCII()
    {
        var (input, _) = Check(
            email: "　ｔａｒｏ１２３＠ｅｘａｍｐｌｅ．ｊｐ　",
            name: "　山田　太郎　"
        );

        Assert.Equal(("taro123@example.jp", "山田 太郎"), (input!.Email, input.DisplayName));
    }

    [Theory]
    [InlineData("山田 太郎")]
    [InlineData("👨‍👩‍👧‍👦")] // one family emoji: seven code points, one character as people count
    [InlineData("👍🏽")]
    public void Display_names_of_1_to_50_characters_as_people_count_them_are_accepted(string name)
    {
        Assert.Empty(Check(name: name).Errors);
    }

    [Theory]
    [InlineData(null, "表示名を入力してください。")]
    [InlineData("   ", "表示名を入力してください。")]
    [InlineData("山田\n太郎", "表示名に改行や制御文字は使えません。")]
    [InlineData("山田\u0000太郎", "表示名に改行や制御文字は使えません。")]
    [InlineData("abc\u202Egnp.exe", "表示名に改行や制御文字は使えません。")]
    public void Bad_display_names_are_refused_with_a_reason(string? name, string error)
    {
        Assert.Equal([error], Check(name: name).Errors["displayName"]);
    }

    [Fact]
    public void Fifty_characters_are_the_most_a_display_name_may_have()
    {
        var fifty = string.Concat(Enumerable.Repeat("👍🏽", 50));

        Assert.Empty(Check(name: fifty).Errors);
        Assert.Equal(
            ["表示名は50文字以内で入力してください（現在 51 文字）。"],
            Check(name: fifty + "山").Errors["displayName"]
        );
    }

    [Fact]
    public void Half_a_surrogate_pair_is_refused_not_normalised()
    {
        // JSON can carry "\ud800": no character at all, which NFKC cannot normalise (it throws)
        // and PostgreSQL cannot store. (Built here: a theory's data cannot carry it intact.)
        var (high, low) = ((char)0xD800, (char)0xDC00);
        Assert.Equal(
            "表示名に改行や制御文字は使えません。",
            Assert.Single(Check(name: $"山田{high}太郎").Errors["displayName"])
        );
        Assert.True(Check(name: $"山田{low}").Errors.ContainsKey("displayName"));
        Assert.True(Check(email: $"taro{high}@example.jp").Errors.ContainsKey("email"));
        Assert.Empty(Check(name: "山田 👍").Errors); // a whole pair is a character
    }

    [Theory]
    [InlineData("")]
    [InlineData("taro")]
    [InlineData("taro@localhost")]
    [InlineData("taro@@example.jp")]
    [InlineData("taro@example.jp\r\nBcc: victim@example.jp")]
    [InlineData("taro @example.jp")]
    [InlineData(".taro@example.jp")]
    [InlineData("taro@example..jp")]
    [InlineData("太郎@example.jp")]
    public void Malformed_addresses_are_refused(string email)
    {
        Assert.True(Check(email: email).Errors.ContainsKey("email"));
    }

    [Theory]
    [InlineData("taro..yamada@docomo.ne.jp")]
    [InlineData("taro.@ezweb.ne.jp")]
    [InlineData("..taro@softbank.ne.jp")]
    public void Old_Japanese_mobile_addresses_are_refused_with_their_own_reason(string email)
    {
        Assert.Equal(
            [
                "連続したドット（..）や @ の直前のドットを含むアドレスには、メールをお届けできません。別のアドレスをお使いください。",
            ],
            Check(email: email).Errors["email"]
        );
    }

    [Fact]
    public void Errors_speak_the_entrants_language()
    {
        var (_, errors) = Check(email: "", name: "", consent: false, locale: Language.English);

        Assert.Equal(
            [
                "Enter your e-mail address.",
                "Enter a display name.",
                "You need to accept the terms and the privacy policy to enter.",
            ],
            errors.Values.SelectMany(e => e)
        );
    }
}
