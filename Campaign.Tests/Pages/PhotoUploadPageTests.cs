using Campaign.Tests.Features.Photos;
using Microsoft.Playwright;

namespace Campaign.Tests.Pages;

/// <summary>A real image file chosen on /me goes to S3 (s3rver) from Chromium, with its progress shown.</summary>
[Collection(nameof(Browser))]
public sealed class PhotoUploadPageTests(Browser browser) : IAsyncLifetime
{
    public Task InitializeAsync() => browser.App.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    async Task<IPage> SignedInPage(string email)
    {
        var page = await browser.NewPage();
        await page.GotoAsync("/signup");
        await page.GetByLabel("メールアドレス").FillAsync(email);
        await page.GetByLabel("表示名").FillAsync("写真 花子");
        await page.GetByLabel("利用規約とプライバシーポリシーに同意します").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "応募する" }).ClickAsync();
        var mail = await browser.App.SendGrid.WaitForMail(email);
        await page.SignInWith(mail.Token);
        return page;
    }

    [Fact]
    public async Task Choosing_a_photo_uploads_it_with_a_progress_bar_and_shows_it()
    {
        var page = await SignedInPage("upload@example.jp");
        // No photo yet: said in words, and no empty picture frame.
        await Assertions.Expect(page.GetByText("まだ写真がありません。")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#photo")).ToBeHiddenAsync();
        var file = Path.Combine(Path.GetTempPath(), $"photo-{Guid.NewGuid():N}.png");
        await File.WriteAllBytesAsync(file, Images.OfSize(1024 * 1024));

        await page.GetByLabel("写真を選ぶ").SetInputFilesAsync(file);

        await Assertions.Expect(page.GetByRole(AriaRole.Progressbar)).ToBeVisibleAsync();
        await Assertions
            .Expect(page.GetByRole(AriaRole.Status))
            .ToHaveTextAsync("写真を登録しました。");
        await Assertions
            .Expect(page.GetByRole(AriaRole.Progressbar))
            .ToHaveAttributeAsync("aria-valuenow", "100");
        var photo = page.GetByRole(AriaRole.Img, new() { Name = "あなたのプロフィール写真" });
        await Assertions.Expect(photo).ToBeVisibleAsync();
        Assert.True(
            await photo.EvaluateAsync<bool>("img => img.complete && img.naturalWidth === 1")
        );
        await page.AssertAccessible();

        await page.GetByRole(AriaRole.Button, new() { Name = "写真を削除" }).ClickAsync();
        await Assertions.Expect(page.GetByText("まだ写真がありません。")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#photo")).ToBeHiddenAsync();
        File.Delete(file);
    }

    [Fact]
    public async Task A_file_that_is_not_an_image_gets_a_clear_message_before_any_upload()
    {
        var page = await SignedInPage("wrong@example.jp");
        var file = Path.Combine(Path.GetTempPath(), $"notes-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(file, "not a photo");

        await page.GetByLabel("写真を選ぶ").SetInputFilesAsync(file);

        await Assertions
            .Expect(page.GetByRole(AriaRole.Status))
            .ToHaveTextAsync("JPEG、PNG、WebP の画像を選んでください。");
        await Assertions.Expect(page.GetByRole(AriaRole.Progressbar)).ToBeHiddenAsync();
        File.Delete(file);
    }

    [Fact]
    public async Task A_camera_photo_is_scaled_down_and_sent_without_its_location()
    {
        var page = await SignedInPage("camera@example.jp");
        // A real JPEG of 2400 × 1200 (drawn by the browser), with the camera's GPS added as EXIF.
        var drawn = Convert.FromBase64String(
            await page.EvaluateAsync<string>(
                """
                () => {
                  const canvas = document.createElement("canvas");
                  canvas.width = 2400;
                  canvas.height = 1200;
                  const context = canvas.getContext("2d");
                  context.fillStyle = "#c03";
                  context.fillRect(0, 0, 2400, 1200);
                  return canvas.toDataURL("image/jpeg").split(",")[1];
                }
                """
            )
        );
        var exif = Images.Exif(0x8825);
        byte[] camera =
        [
            .. drawn[..2],
            0xFF,
            0xE1,
            (byte)((exif.Length + 2) >> 8),
            (byte)(exif.Length + 2),
            .. exif,
            .. drawn[2..],
        ];
        Assert.Equal(
            Campaign.Features.Photos.ImageStructure.Refusal.Location,
            (
                await Campaign.Features.Photos.ImageStructure.Walk(
                    "image/jpeg",
                    camera.Length,
                    (offset, count) => Task.FromResult(camera.AsSpan((int)offset, count).ToArray())
                )
            ).Refusal
        );
        var file = Path.Combine(Path.GetTempPath(), $"camera-{Guid.NewGuid():N}.jpg");
        await File.WriteAllBytesAsync(file, camera);

        await page.GetByLabel("写真を選ぶ").SetInputFilesAsync(file);

        await Assertions
            .Expect(page.GetByRole(AriaRole.Status))
            .ToHaveTextAsync("写真を登録しました。");
        var photo = page.GetByRole(AriaRole.Img, new() { Name = "あなたのプロフィール写真" });
        Assert.Equal(
            $"{Campaign.Features.Photos.PhotoRules.MaxSide}x{Campaign.Features.Photos.PhotoRules.MaxSide / 2}",
            await photo.EvaluateAsync<string>(
                "img => img.decode().then(() => img.naturalWidth + 'x' + img.naturalHeight)"
            )
        );
        File.Delete(file);
    }
}
